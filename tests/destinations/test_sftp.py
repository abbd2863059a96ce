"""SFTPStorage against a private OpenSSH sshd with its own host key (key login, pinned host key)."""

from __future__ import annotations

import os

import pytest

from apps.destinations.storage import (
    SFTPStorage,
    StorageError,
    StorageMissing,
    StorageUnreachable,
    get_storage,
    parse_host_key,
    parse_private_key,
)
from apps.destinations.storage.sftp_keys import fingerprint, scan_host_key
from tests.destinations.conftest import ed25519_pair, free_port


def write(storage, name: str, data: bytes, chunk: int = 1 << 20) -> str:
    writer = storage.open_writer(name)
    for i in range(0, len(data), chunk):
        writer.write(data[i : i + chunk])
    writer.commit()
    return writer.location


def test_a_file_round_trips_through_sftp_via_a_partial_and_a_rename(sftp):
    storage = get_storage(sftp.destination())
    assert isinstance(storage, SFTPStorage)
    data = os.urandom(3 * (1 << 20) + 77)
    writer = storage.open_writer("shop_1.dump.zst")
    writer.write(data[: 1 << 20])
    # While writing, only the .partial exists (the folder was created for us).
    assert sorted(os.listdir(sftp.folder)) == ["shop_1.dump.zst.partial"]
    writer.write(data[1 << 20 :])
    writer.commit()
    location = writer.location

    s = sftp.server
    assert location == f"sftp://{s.user}@127.0.0.1:{s.port}{sftp.folder}/shop_1.dump.zst"
    assert sorted(os.listdir(sftp.folder)) == ["shop_1.dump.zst"]
    assert (sftp.folder / "shop_1.dump.zst").read_bytes() == data
    assert storage.exists(location) and storage.size(location) == len(data)
    with storage.open_reader(location) as fh:
        assert fh.read() == data
    with storage.open_reader(location) as fh:
        fh.seek(len(data) - 10)
        assert fh.read() == data[-10:]

    storage.delete(location)
    assert not storage.exists(location)
    storage.delete(location)  # already gone: not an error
    with pytest.raises(StorageMissing, match="is missing"):
        storage.open_reader(location)


def test_an_aborted_writer_removes_its_partial(sftp):
    storage = get_storage(sftp.destination())
    writer = storage.open_writer("aborted.dump")
    writer.write(b"x" * 1000)
    writer.abort()
    assert os.listdir(sftp.folder) == []


def test_cleanup_partial_removes_a_crashed_runs_partial(sftp):
    storage = get_storage(sftp.destination())
    sftp.folder.mkdir()
    (sftp.folder / "crashed.dump.partial").write_bytes(b"half")
    location = storage.location_for("crashed.dump")
    assert storage.cleanup_partial(location) is True
    assert storage.cleanup_partial(location) is False
    assert os.listdir(sftp.folder) == []


def test_an_existing_file_is_never_overwritten(sftp):
    storage = get_storage(sftp.destination())
    write(storage, "once.dump", b"first")
    writer = storage.open_writer("once.dump")
    writer.write(b"second")
    with pytest.raises(StorageError, match="already exists"):
        writer.commit()
    assert (sftp.folder / "once.dump").read_bytes() == b"first"
    assert sorted(os.listdir(sftp.folder)) == ["once.dump"]


def test_a_changed_host_key_fails_with_both_fingerprints(sftp):
    _, other_public = ed25519_pair()
    storage = get_storage(sftp.destination(host_key=other_public))
    with pytest.raises(StorageUnreachable) as info:
        storage.open_writer("x.dump")
    served = fingerprint(parse_host_key(sftp.server.host_public)[1])
    pinned = fingerprint(parse_host_key(other_public)[1])
    assert str(info.value).startswith(
        f"SFTP host key changed for 127.0.0.1:{sftp.server.port}: the server presents {served}, "
        f"the pinned key is {pinned}."
    )
    assert not sftp.folder.exists()


def test_without_a_pinned_key_nothing_is_accepted(sftp):
    storage = get_storage(sftp.destination(host_key=""))
    with pytest.raises(StorageError, match="has no pinned host key"):
        storage.open_writer("x.dump")


def test_scanning_returns_the_servers_key_and_its_fingerprint(sftp):
    line, print_ = scan_host_key("127.0.0.1", sftp.server.port)
    assert line == sftp.server.host_public.rsplit(" ", 1)[0] or line == " ".join(
        sftp.server.host_public.split()[:2]
    )
    assert print_ == fingerprint(parse_host_key(sftp.server.host_public)[1])
    assert print_.startswith("SHA256:") and not print_.endswith("=")


def test_a_wrong_key_is_bad_credentials_without_the_key(sftp):
    other_private, _ = ed25519_pair()
    storage = get_storage(sftp.destination(private_key=other_private))
    with pytest.raises(StorageError) as info:
        storage.open_writer("x.dump")
    assert str(info.value) == (
        f"SFTP bad credentials: {sftp.server.user}@127.0.0.1:{sftp.server.port} refused the private key"
    )
    assert other_private.splitlines()[1] not in str(info.value)


def test_a_closed_port_is_unreachable():
    from types import SimpleNamespace

    private, public = ed25519_pair()
    port = free_port()
    destination = SimpleNamespace(
        kind="sftp",
        host="127.0.0.1",
        port=port,
        username="u",
        password="",
        private_key=private,
        host_key=public,
        path="/x",
    )
    with pytest.raises(StorageUnreachable, match=rf"SFTP server unreachable: u@127.0.0.1:{port} \("):
        get_storage(destination).open_writer("x.dump")
    with pytest.raises(StorageUnreachable, match=rf"SFTP server unreachable: 127.0.0.1:{port}"):
        scan_host_key("127.0.0.1", port)


def test_private_keys_and_host_keys_are_parsed_in_memory_with_reasons():
    private, public = ed25519_pair()
    assert parse_private_key(private).get_name() == "ssh-ed25519"
    with pytest.raises(ValueError, match="Not a private key"):
        parse_private_key("hello")
    line, key = parse_host_key(f"[example.org]:2222 {public} comment")
    assert line == public and key.get_name() == "ssh-ed25519"
    with pytest.raises(ValueError, match="Not a host key"):
        parse_host_key("ssh-ed25519")
    with pytest.raises(ValueError, match="does not decode"):
        parse_host_key("ssh-ed25519 AAAA!!!")


def test_a_reader_hands_out_windows_in_order_across_odd_reads_and_seeks(sftp, monkeypatch):
    from apps.destinations.storage import sftp as sftp_module

    monkeypatch.setattr(sftp_module, "READ_WINDOW", 100_000)  # several windows, not aligned to requests
    storage = get_storage(sftp.destination())
    data = os.urandom(1_000_003)
    location = write(storage, "windows.dump", data)
    with storage.open_reader(location) as fh:
        got = b""
        while piece := fh.read(77_777):
            got += piece
        assert got == data
        fh.seek(123_456)
        assert fh.read(300_000) == data[123_456:423_456]
        fh.seek(10)
        assert fh.read(5) == data[10:15]
        assert fh.tell() == 15


def test_list_locations_names_the_finished_files_in_the_folder(sftp):
    storage = get_storage(sftp.destination())
    a = write(storage, "a.dump", b"a")
    write(storage, "a.dump.manifest.json", b"{}")
    (sftp.folder / "c.dump.partial").write_bytes(b"half")
    (sftp.folder / "sub").mkdir()
    assert storage.list_locations() == [a, a + ".manifest.json"]
    assert storage.list_locations(".manifest.json") == [a + ".manifest.json"]


def test_a_local_folder_lists_its_finished_files_too(tmp_path):
    from types import SimpleNamespace

    storage = get_storage(SimpleNamespace(kind="local", path=str(tmp_path)))
    a = write(storage, "a.dump", b"a")
    (tmp_path / "b.dump.partial").write_bytes(b"half")
    (tmp_path / "sub").mkdir()
    assert storage.list_locations() == [a]
    assert storage.list_locations(".manifest.json") == []
