"""Hand-over Secrets: their shape (never a tenant key to Authorino), put, withdraw, expiry."""

from __future__ import annotations

import base64
import copy
from datetime import timedelta

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import handover
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError

from tenant_fixtures import KEY_A, NOW, SEL


class Api(object):
    def __init__(self):
        self.store = {}

    def create(self, path, body):
        name = body["metadata"]["name"]
        if name in self.store:
            raise ApiError(409, "Conflict", "already exists", "POST", path)
        self.store[name] = copy.deepcopy(body)

    def delete(self, path, missing_ok=True):
        self.store.pop(path.rsplit("/", 1)[1], None)

    def list(self, path, label_selector=None, metadata_only=False):
        assert label_selector == "tokenlabs.io/key-handover=true" and metadata_only
        return [{"metadata": copy.deepcopy(s["metadata"])} for s in self.store.values()]


def test_the_hand_over_secret_is_no_api_key_for_authorino():
    body = handover.render_handover("handover", "acme", KEY_A, NOW, 3600, "kuadrant-system")
    assert body["metadata"]["name"] == "key-handover-acme-" + tenant_keys.fingerprint(KEY_A)[7:19]
    assert not set(SEL) & set(body["metadata"]["labels"])  # not selected by the AuthPolicy
    assert body["metadata"]["annotations"]["tokenlabs.io/handover-expires-at"] == "2026-06-01T13:00:00Z"
    assert base64.b64decode(body["data"]["api_key"]).decode() == KEY_A and "stringData" not in body


def test_put_withdraw_and_expiry():
    api = Api()
    keeper = handover.Handover(api, "handover", 3600, "kuadrant-system", NOW)
    where = keeper.put("acme", KEY_A)
    assert where == "handover/" + handover.handover_name("acme", KEY_A)
    assert keeper.put("acme", KEY_A) == where  # an interrupted run already handed this key over
    assert keeper.remove_expired() == []
    later = handover.Handover(api, "handover", 3600, "kuadrant-system", NOW + timedelta(hours=2))
    assert later.remove_expired() == [handover.handover_name("acme", KEY_A)] and api.store == {}
    keeper.put("acme", KEY_A)
    keeper.withdraw("acme", KEY_A)
    assert api.store == {}


def test_a_missing_hand_over_namespace_says_what_creates_it():
    class NoNamespace(Api):
        def create(self, path, body):
            raise ApiError(404, "NotFound", 'namespaces "handover" not found', "POST", path,
                           {"kind": "namespaces", "name": "handover"})
    try:
        handover.Handover(NoNamespace(), "handover", 3600, "kuadrant-system", NOW).put("acme", KEY_A)
    except ApiError as err:
        assert "hand-over namespace handover does not exist" in str(err) and "tenant_manager_access" in str(err)
        assert KEY_A not in str(err)
    else:
        raise AssertionError("a missing namespace must fail")


def test_new_keys_report_is_a_few_lines_for_any_number_of_keys():
    files = {"t%05d" % i: "/keys/t%05d.key" % i for i in range(10000)}
    lines = handover.new_keys_report(files, {}, "24h")
    assert lines == ["10000 new keys written (mode 0600, one <tenant>.key each) to /keys: t00000, t00001, t00002, "
                     "t00003, t00004 and 9995 more"]
    one = handover.new_keys_report({"acme": "/k/acme.key"}, {"acme": "ops/key-handover-acme-1"}, "24h")
    assert one[0] == "1 new key written (mode 0600, one <tenant>.key each) to /k: acme"
    assert one[1].startswith("1 new key waits in hand-over Secrets (namespace ops) for 24h: acme. Pick one up")
    assert handover.new_keys_report({}, {}, "24h") == []
