"""Job files are written whole (through a temporary file), into a directory created when missing."""

import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import files as job_files


def test_write_json_creates_the_directory_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "record.json"
    job_files.write_json(str(path), {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert path.read_text().startswith('{\n  "a"') and path.read_text().endswith("}\n")
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
