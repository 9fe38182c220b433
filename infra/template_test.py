"""Checks of template.yaml that cfn-lint and checkov cannot make (run by infra/test.sh
with the .venv's Python: `.venv/bin/python infra/template_test.py`).

- The deploy-time Rules: cfn-lint checks their syntax but never evaluates them, and
  CloudFormation only does at deploy time. A tiny evaluator of the rule functions the
  template uses (Ref, Fn::Equals, Fn::Not, Fn::And, Fn::Or) runs them over parameter
  sets: the defaults must be refused (a stack that deploys and then fails every call),
  working configurations accepted, and each half-configured provider refused, as
  sentinel_carriers::ProviderSettings::from_lookup would refuse it at cold start.
- The IAM statements: each function gets exactly the actions it calls, on the
  resources it touches (the table and only the indexes it queries; SMS only for the
  functions that send it, never the api; SSM parameters only those named).
- The provider and chat variables: every variable the code reads is passed to the
  functions that read it, and the template passes nothing the code does not read.

Offline: it parses the template with the SAM translator's YAML loader (from the SAM CLI
in .venv), which turns !Ref and friends into their long forms.
"""

import re
import sys
import unittest
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]


# ------------------------------------------------------------------ rules


class RuleError(Exception):
    pass


def evaluate(node, values):
    """The value of a rule expression over parameter `values`."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [evaluate(n, values) for n in node]
    if not isinstance(node, dict) or len(node) != 1:
        raise RuleError(f"not a rule expression: {node!r}")
    (fn, arg), = node.items()
    if fn == "Ref":
        if arg not in values:
            raise RuleError(f"Ref to an unknown parameter {arg}")
        return values[arg]
    if fn == "Fn::Equals":
        a, b = (evaluate(x, values) for x in arg)
        return a == b
    if fn == "Fn::Not":
        (inner,) = arg
        return not truth(evaluate(inner, values))
    if fn == "Fn::And":
        if not 2 <= len(arg) <= 10:
            raise RuleError("Fn::And takes 2 to 10 conditions")
        return all(truth(evaluate(x, values)) for x in arg)
    if fn == "Fn::Or":
        if not 2 <= len(arg) <= 10:
            raise RuleError("Fn::Or takes 2 to 10 conditions")
        return any(truth(evaluate(x, values)) for x in arg)
    if fn == "Fn::Contains":
        haystack, needle = (evaluate(x, values) for x in arg)
        return needle in haystack
    raise RuleError(f"the evaluator does not know {fn}")


def truth(v):
    if not isinstance(v, bool):
        raise RuleError(f"a condition evaluated to {v!r}, not a boolean")
    return v


def defaults():
    return {name: str(p.get("Default", "")) for name, p in PARAMETERS.items()}


def failed_assertions(overrides):
    """The AssertDescriptions that fail for the defaults plus `overrides`."""
    values = defaults()
    for k in overrides:
        assert k in PARAMETERS, f"unknown parameter {k}"
    values.update(overrides)
    failed = []
    for name, rule in TEMPLATE.get("Rules", {}).items():
        cond = rule.get("RuleCondition")
        if cond is not None and not truth(evaluate(cond, values)):
            continue
        for a in rule["Assertions"]:
            if not truth(evaluate(a["Assert"], values)):
                failed.append(f"{name}: {a['AssertDescription']}")
    return failed


KDNIAO = {"KdniaoEBusinessId": "1000001", "KdniaoApiKeyParameter": "/ps/kdniao-key"}
K100 = {
    "CarrierProvider": "kuaidi100",
    "Kuaidi100Customer": "CUST",
    "Kuaidi100KeyParameter": "/ps/k100-key",
}
K100_PUSH = {
    **K100,
    "TrackingMode": "push",
    "Kuaidi100CallbackUrl": "https://abc.execute-api.us-east-1.amazonaws.com/callbacks/kuaidi100",
    "Kuaidi100SaltParameter": "/ps/k100-salt",
}


class Rules(unittest.TestCase):
    def assert_refused(self, overrides, *fragments):
        failed = failed_assertions(overrides)
        self.assertTrue(failed, f"accepted: {overrides}")
        text = " | ".join(failed)
        for f in fragments:
            self.assertIn(f, text)

    def assert_accepted(self, overrides):
        self.assertEqual(failed_assertions(overrides), [], overrides)

    def test_the_defaults_are_refused_naming_what_is_missing(self):
        self.assertEqual(defaults()["CarrierProvider"], "kdniao")
        self.assert_refused({}, "KdniaoEBusinessId", "KdniaoApiKeyParameter")

    def test_kdniao_with_a_key_parameter_or_a_plain_key(self):
        self.assert_accepted(KDNIAO)
        self.assert_accepted({"KdniaoEBusinessId": "1", "KdniaoApiKey": "k"})
        # Both: accepted (the parameter wins at run time).
        self.assert_accepted({**KDNIAO, "KdniaoApiKey": "k"})
        self.assert_accepted({**KDNIAO, "TrackingMode": "push"})

    def test_kdniao_half_configured_is_refused(self):
        self.assert_refused({"KdniaoEBusinessId": "1"}, "KdniaoApiKeyParameter")
        self.assert_refused({"KdniaoApiKeyParameter": "/ps/k"}, "KdniaoEBusinessId")
        self.assert_refused({"KdniaoApiKey": "k"}, "KdniaoEBusinessId")

    def test_kuaidi100_poll_and_push(self):
        self.assert_accepted(K100)
        self.assert_accepted({**K100, "Kuaidi100KeyParameter": "", "Kuaidi100Key": "k"})
        self.assert_accepted(K100_PUSH)
        self.assert_accepted({**K100_PUSH, "Kuaidi100SaltParameter": "", "Kuaidi100Salt": "s"})
        # Kdniao as well (carrier detection): a full pair is fine.
        self.assert_accepted({**K100, **KDNIAO, "CarrierProvider": "kuaidi100"})

    def test_kuaidi100_half_configured_is_refused(self):
        self.assert_refused({"CarrierProvider": "kuaidi100"}, "Kuaidi100Customer")
        self.assert_refused({**K100, "Kuaidi100KeyParameter": ""}, "Kuaidi100KeyParameter")
        self.assert_refused(
            {**K100_PUSH, "Kuaidi100CallbackUrl": ""}, "Kuaidi100CallbackUrl"
        )
        self.assert_refused(
            {**K100_PUSH, "Kuaidi100SaltParameter": ""}, "Kuaidi100SaltParameter"
        )
        # A stray half pair of the other provider stops the functions too.
        self.assert_refused({**K100, "KdniaoEBusinessId": "1"}, "KdniaoEBusinessId")
        self.assert_refused({**KDNIAO, "Kuaidi100Key": "k"}, "Kuaidi100Customer")

    def test_the_evaluator_refuses_what_it_does_not_know(self):
        with self.assertRaises(RuleError):
            evaluate({"Fn::EachMemberIn": [[], []]}, {})
        with self.assertRaises(RuleError):
            evaluate({"Ref": "NoSuchParameter"}, {})


# ------------------------------------------------------------------ IAM


def props(fn):
    return RESOURCES[fn]["Properties"]


def statements(fn):
    """Every statement of the function's Policies, with the condition that adds it
    (None: always). SAM policy templates are not used at all."""
    out = []
    for p in props(fn).get("Policies", []):
        cond = None
        if isinstance(p, dict) and "Fn::If" in p:
            cond, p, other = p["Fn::If"]
            assert other == {"Ref": "AWS::NoValue"}, other
        assert isinstance(p, dict) and list(p) == ["Statement"], f"{fn}: {p!r}"
        for s in p["Statement"]:
            out.append((cond, s))
    return out


def actions(fn):
    acts = {}
    for cond, s in statements(fn):
        a = s["Action"]
        for x in [a] if isinstance(a, str) else a:
            acts.setdefault(x, []).append((cond, s))
    return acts


def resources(stmt):
    r = stmt.get("Resource")
    return r if isinstance(r, list) else [r]


TABLE = {"Fn::GetAtt": ["Table", "Arn"]}


def index(name):
    return {"Fn::Sub": "${Table.Arn}/index/" + name}


class Iam(unittest.TestCase):
    FUNCTIONS = ["SchedulerFunction", "TrackerFunction", "ApiFunction", "NotifierFunction"]

    def test_each_function_has_exactly_its_actions(self):
        expected = {
            "SchedulerFunction": {
                "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem",
                "dynamodb:PutItem", "events:PutEvents", "sns:Publish",
            },
            "TrackerFunction": {
                "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                "dynamodb:UpdateItem", "sns:Publish", "ssm:GetParameters", "kms:Decrypt",
            },
            "ApiFunction": {
                "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem",
                "dynamodb:Query", "dynamodb:UpdateItem", "sns:Publish",
                "ssm:GetParameters", "kms:Decrypt",
            },
            "NotifierFunction": {"ssm:GetParameters", "kms:Decrypt"},
        }
        for fn, want in expected.items():
            self.assertEqual(set(actions(fn)), want, fn)
            for _, s in statements(fn):
                self.assertEqual(s["Effect"], "Allow")
                self.assertNotIn("*", str(s.get("Action")), f"{fn}: wildcard action")
                self.assertNotEqual(s.get("Resource"), "*", fn)

    def test_dynamodb_only_on_the_table_and_the_indexes_queried(self):
        allowed = {
            "SchedulerFunction": [index("due-index"), index("outbox-index"), TABLE],
            "TrackerFunction": [TABLE],
            "ApiFunction": [TABLE, index("carrier-index")],
        }
        for fn, res in allowed.items():
            for a, found in actions(fn).items():
                if a.startswith("dynamodb:"):
                    for _, s in found:
                        for r in resources(s):
                            self.assertIn(r, res, f"{fn} {a}")
        # The scheduler reads the table only item by item, and queries only its
        # two indexes (never the base table, never another index).
        (_, q), = actions("SchedulerFunction")["dynamodb:Query"]
        self.assertEqual(resources(q), [index("due-index"), index("outbox-index")])

    def test_updates_touch_exactly_the_attributes_the_store_updates(self):
        # The DynamoDB store's list, which its own unit test keeps equal to the
        # attributes its update expressions name; only the api registers carriers.
        updated = rust_strings("adapters/aws/src/dynamo/mod.rs", "UPDATED_ATTRIBUTES")
        self.assertIn("lease_owner", updated)
        for fn in ["SchedulerFunction", "TrackerFunction", "ApiFunction"]:
            want = ["pk", "sk"] + [a for a in updated if a != "codes" or fn == "ApiFunction"]
            (cond, s), = actions(fn)["dynamodb:UpdateItem"]
            self.assertIsNone(cond)
            c = s["Condition"]
            got = c["ForAllValues:StringEquals"]["dynamodb:Attributes"]
            self.assertEqual(sorted(got), sorted(want), fn)
            self.assertEqual(c["StringEqualsIfExists"]["dynamodb:ReturnValues"], "NONE")

    def test_the_scheduler_puts_only_into_the_registry_partition(self):
        (cond, s), = actions("SchedulerFunction")["dynamodb:PutItem"]
        self.assertIsNone(cond)
        self.assertEqual(resources(s), [TABLE])
        keys = s["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
        self.assertEqual(keys, ["META"])

    def test_sms_only_where_notices_are_sent_and_never_the_api(self):
        topic = {"Ref": "AlertsTopic"}
        for fn in ["SchedulerFunction", "TrackerFunction", "ApiFunction"]:
            found = actions(fn)["sns:Publish"]
            to_topic = [s for c, s in found if s.get("Resource") == topic]
            self.assertEqual(len(to_topic), 1, fn)
            sms = [(c, s) for c, s in found if "NotResource" in s]
            if fn == "ApiFunction":
                self.assertEqual(sms, [], "the internet-facing api may not text phones")
                self.assertEqual(len(found), 1)
            else:
                (cond, s), = sms
                self.assertEqual(cond, "HasCustomerNotices", fn)
        for fn in self.FUNCTIONS:
            for _, s in statements(fn):
                if "NotResource" in s:
                    self.assertEqual(s["Action"], "sns:Publish", fn)

    def test_secret_parameters_are_read_only_where_named(self):
        carrier = ["KdniaoApiKeyParameter", "Kuaidi100KeyParameter", "Kuaidi100SaltParameter"]
        chat = [
            "DingtalkWebhookParameter", "DingtalkSecretParameter", "WecomWebhookParameter",
            "FeishuWebhookParameter", "FeishuSecretParameter", "SlackWebhookParameter",
        ]
        for fn, names, cond in [
            ("TrackerFunction", carrier, "ReadsCarrierSecrets"),
            ("ApiFunction", carrier, "ReadsCarrierSecrets"),
            ("NotifierFunction", chat, "ReadsChatSecrets"),
        ]:
            (c, s), = actions(fn)["ssm:GetParameters"]
            self.assertEqual(c, cond)
            got = []
            for r in resources(s):
                has, arn, none = r["Fn::If"]
                self.assertEqual(none, {"Ref": "AWS::NoValue"})
                name = has[len("Has"):]
                self.assertEqual(
                    arn,
                    {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${" + name + "}"},
                )
                got.append(name)
            self.assertEqual(got, names, fn)
            (c, k), = actions(fn)["kms:Decrypt"]
            self.assertEqual(c, cond + "WithKmsKey")
            self.assertEqual(k["Resource"], {"Ref": "SecretParametersKmsKeyArn"})
            self.assertIn("kms:ViaService", k["Condition"]["StringEquals"])
        for fn in ["SchedulerFunction"]:
            self.assertNotIn("ssm:GetParameters", actions(fn))
        for name in carrier + chat:
            self.assertTrue(PARAMETERS[name]["AllowedPattern"].startswith("^(/"), name)


# ------------------------------------------------------------------ variables


def rust_strings(path, const):
    """The string literals of a `pub const NAME: [&str; N] = [...]`."""
    text = (ROOT / path).read_text(encoding="utf-8")
    m = re.search(rf"pub const {const}: \[&str; \d+\] = \[(.*?)\];", text, re.S)
    assert m, f"{const} not found in {path}"
    return re.findall(r'"([^"]+)"', m.group(1))


def env(fn):
    return props(fn).get("Environment", {}).get("Variables", {})


class Variables(unittest.TestCase):
    def test_every_provider_variable_reaches_the_tracker_and_the_api(self):
        code = set(rust_strings("adapters/carriers/src/lib.rs", "VARIABLES"))
        secrets = rust_strings("adapters/carriers/src/lib.rs", "SECRET_VARIABLES")
        want = code | {f"{v}_PARAMETER" for v in secrets}
        self.assertIn("KDNIAO_API_URL", code)
        self.assertEqual(set(env("TrackerFunction")) & (want | {"CARRIER_PROVIDER"}), want)
        # The api checks no parcel itself: everything but CARRIER_CONCURRENCY.
        self.assertEqual(set(env("ApiFunction")), want - {"CARRIER_CONCURRENCY"})
        for fn in ["TrackerFunction", "ApiFunction"]:
            extra = set(env(fn)) - want
            self.assertTrue(extra <= {"RETENTION_DAYS"}, f"{fn} passes unread {extra}")

    def test_every_chat_variable_reaches_the_notifier(self):
        code = set(rust_strings("adapters/chat/src/config.rs", "VARIABLES"))
        secrets = rust_strings("adapters/chat/src/config.rs", "SECRET_VARIABLES")
        want = code | {f"{v}_PARAMETER" for v in secrets} | {"SEND_BUDGET_SECONDS"}
        self.assertEqual(set(env("NotifierFunction")), want)

    def test_new_settings_default_to_empty_meaning_the_code_default(self):
        for name in [
            "KdniaoApiUrl", "KdniaoSubscribeUrl", "Kuaidi100ApiUrl", "Kuaidi100SubscribeUrl",
            "CarrierTimeoutMs", "CarrierRetries", "CarrierConcurrency",
        ]:
            self.assertEqual(PARAMETERS[name]["Default"], "", name)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=1).result.wasSuccessful() else 1)
