"""What AWX does with our job templates, for tests (no AWX server runs here).

* ``survey_spec_errors`` mirrors AWX's survey spec validation
  (awx/api/views JobTemplateSurveySpec._validate_spec_data) plus our own rule
  that every question carries every field AWX stores, so the awx.awx
  job_template module's whole-spec compare is stable.
* ``launch_extra_vars`` mirrors how AWX builds a job's extra vars
  (awx/main/models/mixins.py SurveyJobTemplateMixin._update_unified_job_kwargs):
  template extra_vars, then survey defaults that pass validation, then the
  answers given at launch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
AWX_VARS = REPO / "playbooks" / "vars" / "awx.yml"
SURVEY_DIR = REPO / "playbooks" / "files" / "awx" / "surveys"

SURVEY_FIELDS = {"name", "description", "spec"}
QUESTION_FIELDS = {"question_name", "question_description", "required", "type", "variable", "min", "max",
                   "default", "choices", "new_question"}
TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": (str, list),
         "integer": int, "float": (float, int)}


def job_templates() -> list[dict]:
    return yaml.safe_load(AWX_VARS.read_text())["tokenlabs_awx_job_templates"]


def load_survey(file_name: str) -> dict:
    return json.loads((SURVEY_DIR / file_name).read_text())


def platform_tiers() -> list[str]:
    defaults = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
    return list(defaults["tokenlabs_tiers"])


def survey_spec_errors(spec: dict) -> list[str]:
    errors = []
    if set(spec) != SURVEY_FIELDS:
        errors.append("survey fields %s, expected %s" % (sorted(spec), sorted(SURVEY_FIELDS)))
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(field), kind):
            errors.append("%s must be %s" % (field, kind.__name__))
    if errors:
        return errors
    if not spec["spec"]:
        errors.append("spec has no questions")
    seen = set()
    for idx, q in enumerate(spec["spec"]):
        where = "question %d (%s)" % (idx, q.get("variable"))
        if set(q) != QUESTION_FIELDS:
            errors.append("%s: fields %s, expected exactly %s" % (where, sorted(q), sorted(QUESTION_FIELDS)))
            continue
        for field in ("type", "question_name", "variable"):
            if not isinstance(q[field], str) or not q[field]:
                errors.append("%s: %s must be a non-empty string" % (where, field))
        if not isinstance(q["question_description"], str):
            errors.append("%s: question_description must be a string" % where)
        if not isinstance(q["required"], bool) or not isinstance(q["new_question"], bool):
            errors.append("%s: required and new_question must be booleans" % where)
        if q["variable"] in seen:
            errors.append("%s: variable duplicated" % where)
        seen.add(q["variable"])
        if q["type"] not in TYPES:
            errors.append("%s: type %r is not an AWX question type" % (where, q["type"]))
            continue
        if q["default"] != "" and not isinstance(q["default"], TYPES[q["type"]]):
            errors.append("%s: default %r does not fit type %s" % (where, q["default"], q["type"]))
        for key in ("min", "max"):
            if q[key] is not None and (not isinstance(q[key], int) or isinstance(q[key], bool)):
                errors.append("%s: %s must be an integer or null" % (where, key))
        if not isinstance(q["choices"], list):
            errors.append("%s: choices must be a list (normalised form)" % where)
        if q["type"] in ("multiplechoice", "multiselect"):
            if not q["choices"] or not all(isinstance(c, str) and c for c in q["choices"]):
                errors.append("%s: choices must list non-empty strings" % where)
            if q["default"] not in ("", None) and q["default"] not in q["choices"]:
                errors.append("%s: default %r is not one of the choices" % (where, q["default"]))
        elif q["choices"]:
            errors.append("%s: choices only apply to multiple choice questions" % where)
        if q["type"] in ("text", "textarea", "password"):
            if not isinstance(q["min"], int) or not isinstance(q["max"], int) or q["min"] > q["max"]:
                errors.append("%s: text questions need integer min <= max" % where)
            elif q["required"] and q["min"] < 1:
                errors.append("%s: a required text question needs min >= 1 (AWX accepts '' otherwise)" % where)
    return errors


def _answer_errors(q: dict, data: dict) -> list[str]:
    """AWX's _survey_element_validation for the question types we use."""
    var = q["variable"]
    if var not in data:
        return ["%s missing" % var] if q["required"] else []
    value = data[var]
    if q["type"] in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["%s: expected a string" % var]
        if q["min"] not in ("", None) and len(value) < int(q["min"]):
            return ["%s: too short" % var]
        if q["max"] not in ("", None) and len(value) > int(q["max"]):
            return ["%s: too long" % var]
    elif q["type"] == "multiplechoice":
        choices = q["choices"] if isinstance(q["choices"], list) else q["choices"].splitlines()
        if value not in choices:
            return ["%s: %r is not one of %s" % (var, value, choices)]
    return []


def launch_extra_vars(template: dict, answers: dict) -> dict:
    """Extra vars of a job AWX launches from ``template`` with ``answers`` (raises on survey errors)."""
    extra = dict(template.get("extra_vars") or {})
    spec = load_survey(template["survey"]) if template.get("survey") else {"spec": []}
    errors = []
    for q in spec["spec"]:
        if q["variable"] in answers:
            errors.extend(_answer_errors(q, answers))
        elif q["required"]:
            errors.append("%s missing" % q["variable"])
    unknown = set(answers) - {q["variable"] for q in spec["spec"]}
    if unknown:
        errors.append("variables %s are not allowed on launch (not in the survey)" % sorted(unknown))
    if errors:
        raise ValueError("AWX would refuse the launch: " + "; ".join(errors))
    defaults = {}
    for q in spec["spec"]:
        if q.get("default") is not None and not _answer_errors(q, {q["variable"]: q["default"]}):
            defaults[q["variable"]] = q["default"]
    extra.update(defaults)
    extra.update(answers)
    return extra


def playbook_text(root_playbook: str) -> str:
    """Text of a root playbook, the collection playbook it imports, and the roles those list."""
    seen_roles = set()
    texts = []
    path = REPO / root_playbook
    texts.append(path.read_text())
    for imported in re.findall(r"import_playbook:\s*tokenlabs\.inference\.(\w+)", texts[0]):
        texts.append((REPO / "playbooks" / (imported + ".yml")).read_text())
    queue = re.findall(r"tokenlabs\.inference\.(\w+)", "\n".join(texts))
    while queue:
        role = queue.pop()
        role_dir = REPO / "roles" / role
        if role in seen_roles or not role_dir.is_dir():
            continue
        seen_roles.add(role)
        for file in sorted(role_dir.rglob("*.yml")) + sorted(role_dir.rglob("*.j2")):
            text = file.read_text()
            texts.append(text)
            queue.extend(re.findall(r"tokenlabs\.inference\.(\w+)", text))
    return "\n".join(texts)
