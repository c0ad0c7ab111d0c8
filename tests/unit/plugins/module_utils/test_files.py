"""JSON files are written whole (through a temporary file), into a directory created when missing."""

import json

from ansible_collections.tokenlabs.inference.plugins.module_utils import _files as json_files


def test_write_json_creates_the_directory_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "record.json"
    json_files.write_json(str(path), {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert path.read_text().startswith('{\n  "a"') and path.read_text().endswith("}\n")
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]


def test_read_json_object_tolerates_what_is_not_a_record(tmp_path):
    assert json_files.read_json_object(str(tmp_path / "missing.json")) == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert json_files.read_json_object(str(tmp_path / "bad.json")) == {}
    (tmp_path / "list.json").write_text("[1]")
    assert json_files.read_json_object(str(tmp_path / "list.json")) == {}
    json_files.write_json(str(tmp_path / "ok.json"), {"dns": []}, mode=0o600)
    assert json_files.read_json_object(str(tmp_path / "ok.json")) == {"dns": []}
    assert (tmp_path / "ok.json").stat().st_mode & 0o777 == 0o600
