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
- Console sign-in: the Cognito pool, its public code-flow client and groups, the
  ConsoleJwt authorizer, and the authorizer every route ends up with once SAM has
  expanded the template (machine routes keep IAM, the page is public, /api/ takes a
  token); the console and metrics variables of each function.
- Metrics: the three alarms read the metric contract's totals and notify AlarmsTopic;
  the dashboard body is JSON once substituted and shows every metric of the contract;
  the contract's names are the ones the code writes (shared/src/metrics.rs).
- Dependencies: the expanded template has no cycle (the console client in particular
  must not depend on the API whose authorizer names it).

Offline: it parses the template with the SAM translator's YAML loader (from the SAM CLI
in .venv), which turns !Ref and friends into their long forms, and expands it with the
SAM translator (no AWS call: the managed policy list is stubbed, it uses none).
"""

import functools
import json
import os
import re
import sys
import unittest
from pathlib import Path
from unittest import mock

from samtranslator.translator.transform import transform
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
                "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan",
                "dynamodb:PutItem", "events:PutEvents", "sns:Publish", "sqs:SendMessage",
            },
            "TrackerFunction": {
                "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchGetItem",
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
            "ApiFunction": [TABLE, index("carrier-index"), index("problem-index")],
        }
        for fn, res in allowed.items():
            for a, found in actions(fn).items():
                if a.startswith("dynamodb:"):
                    for _, s in found:
                        for r in resources(s):
                            self.assertIn(r, res, f"{fn} {a}")
        # The scheduler reads the table item by item (and Scans it once, to count
        # what was stored before the counters), and queries only its two indexes.
        (_, q), = actions("SchedulerFunction")["dynamodb:Query"]
        self.assertEqual(resources(q), [index("due-index"), index("outbox-index")])

    def test_updates_touch_exactly_the_attributes_the_store_updates(self):
        # The DynamoDB store's list, which its own unit test keeps equal to the
        # attributes its update expressions name; only the api registers carriers,
        # only the scheduler counts shipments stored before the counters.
        updated = rust_strings("adapters/aws/src/dynamo/mod.rs", "UPDATED_ATTRIBUTES")
        self.assertIn("lease_owner", updated)
        only = {"codes": "ApiFunction", "tally": "SchedulerFunction",
                "problem_shard": "SchedulerFunction", "problem_key": "SchedulerFunction"}
        for a in only:
            self.assertIn(a, updated)
        for fn in ["SchedulerFunction", "TrackerFunction", "ApiFunction"]:
            want = ["pk", "sk"] + [a for a in updated if only.get(a, fn) == fn]
            (cond, s), = [(c, s) for c, s in actions(fn)["dynamodb:UpdateItem"]
                          if "ForAllValues:StringEquals" in s.get("Condition", {})]
            self.assertIsNone(cond)
            c = s["Condition"]
            got = c["ForAllValues:StringEquals"]["dynamodb:Attributes"]
            self.assertEqual(sorted(got), sorted(want), fn)
            self.assertEqual(c["StringEqualsIfExists"]["dynamodb:ReturnValues"], "NONE")

    def test_the_tracker_reads_only_the_lanes_counters(self):
        # The lane rules read what the lanes learned (DynamoStore::read_lanes,
        # BatchGetItem of LANE# items): the tracker may batch-read nothing else.
        source = (ROOT / "adapters/aws/src/dynamo/counters.rs").read_text()
        self.assertIn("self.batch_get_items(keys)", source)
        (cond, s), = actions("TrackerFunction")["dynamodb:BatchGetItem"]
        self.assertIsNone(cond)
        self.assertEqual(resources(s), [TABLE])
        self.assertEqual(
            s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"], ["LANE#*"])

    def test_counters_are_updated_only_in_their_partitions(self):
        # The functions that write shipments (tracker, api) add to the counters
        # (adapters/aws/src/dynamo/counters.rs: pk COUNT#..); the scheduler takes
        # removed parcels out of them (the table's stream).
        # The lanes' counters (LANE#{lane}#{shard}) go with them.
        source = (ROOT / "adapters/aws/src/dynamo/counters.rs").read_text()
        self.assertIn('format!("COUNT#{', source)
        self.assertIn('format!("LANE#{lane}#{', source)
        for fn in ["TrackerFunction", "ApiFunction", "SchedulerFunction"]:
            found = [s for _, s in actions(fn)["dynamodb:UpdateItem"]
                     if "COUNT#*" in str(s.get("Condition", {}))]
            self.assertEqual(len(found), 1, fn)
            c = found[0]["Condition"]
            self.assertEqual(c["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
                             ["COUNT#*", "LANE#*"])
            self.assertEqual(c["StringEqualsIfExists"]["dynamodb:ReturnValues"], "NONE")
            self.assertEqual(resources(found[0]), [TABLE])

    def test_only_the_tracker_updates_the_query_budget_in_its_partitions(self):
        # The daily query budget (adapters/aws/src/dynamo/budget.rs: pk BUDGET#..):
        # the tracker takes queries and counts deferrals; a deferral reads back the
        # day's new values (ALL_NEW).
        source = (ROOT / "adapters/aws/src/dynamo/budget.rs").read_text()
        self.assertIn('format!("BUDGET#{', source)
        self.assertIn("ReturnValue::AllNew", source)
        for fn in ["TrackerFunction", "ApiFunction", "SchedulerFunction"]:
            found = [s for _, s in actions(fn)["dynamodb:UpdateItem"]
                     if "BUDGET#" in str(s.get("Condition", {}))]
            if fn != "TrackerFunction":
                self.assertEqual(found, [], fn)
                continue
            (s,) = found
            c = s["Condition"]
            self.assertEqual(c["ForAllValues:StringLike"]["dynamodb:LeadingKeys"], ["BUDGET#*"])
            self.assertEqual(c["StringEqualsIfExists"]["dynamodb:ReturnValues"],
                             ["NONE", "ALL_NEW"])
            self.assertEqual(resources(s), [TABLE])

    def test_the_query_budget_reaches_the_tracker_and_its_alarm_is_set(self):
        self.assertEqual(PARAMETERS["DailyQueryBudget"]["Default"], "")
        pattern = PARAMETERS["DailyQueryBudget"]["AllowedPattern"]
        for ok in ["", "500", "kdniao=500,kuaidi100=2000"]:
            self.assertRegex(ok, pattern)
        for bad in ["500;", "kdniao:500", "$(x)"]:
            self.assertNotRegex(bad, pattern)
        self.assertEqual(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
                         ["DAILY_QUERY_BUDGET"], {"Ref": "DailyQueryBudget"})
        a = props("QueryBudgetShortAlarm")
        self.assertEqual((a["Namespace"], a["MetricName"]), (NAMESPACE, "QueryBudgetShort"))
        self.assertEqual((a["Threshold"], a["ComparisonOperator"]), (0, "GreaterThanThreshold"))

    def test_removed_parcels_reach_the_scheduler_from_the_tables_stream(self):
        table = TEMPLATE["Resources"]["Table"]["Properties"]
        # The old image carries the tally the removal takes out.
        self.assertIn(table["StreamSpecification"]["StreamViewType"],
                      ["OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
        fn = TEMPLATE["Resources"]["SchedulerFunction"]["Properties"]
        (stream,) = [e["Properties"] for e in fn["Events"].values() if e["Type"] == "DynamoDB"]
        self.assertEqual(stream["Stream"], {"Fn::GetAtt": ["Table", "StreamArn"]})
        self.assertEqual(stream["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        # What fails every retry is kept, in a queue the function may send to.
        dlq = stream["DestinationConfig"]["OnFailure"]["Destination"]
        self.assertEqual(dlq, {"Fn::GetAtt": ["SchedulerDeadLetterQueue", "Arn"]})
        (_, send), = actions("SchedulerFunction")["sqs:SendMessage"]
        self.assertEqual(resources(send), [dlq])
        # Only shipment removals: the filter the code's stream::removed also applies.
        (f,) = stream["FilterCriteria"]["Filters"]
        pattern = json.loads(f["Pattern"])
        self.assertEqual(pattern, {"eventName": ["REMOVE"],
                                   "dynamodb": {"Keys": {"sk": {"S": ["SHIP"]}}}})
        source = (ROOT / "adapters/aws/src/dynamo/stream.rs").read_text()
        self.assertIn('record.event_name != "REMOVE"', source)
        self.assertIn('Some("SHIP")', source)
        # SAM grants the stream's reads (GetRecords, GetShardIterator, ...) through
        # the managed policy it adds for a DynamoDB event.
        role = expanded()["Resources"]["SchedulerFunctionRole"]["Properties"]
        self.assertIn("arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
                      role["ManagedPolicyArns"])
        # The emulator's table is the template's (DynamoStore::create_table).
        store = (ROOT / "adapters/aws/src/dynamo/mod.rs").read_text()
        self.assertIn("StreamViewType::OldImage", store)

    def test_the_table_declares_the_store_indexes(self):
        props = RESOURCES["Table"]["Properties"]
        names = {g["IndexName"] for g in props["GlobalSecondaryIndexes"]}
        source = (ROOT / "adapters/aws/src/dynamo").glob("*.rs")
        consts = set()
        for f in source:
            consts |= set(re.findall(r'_INDEX: &str = "([a-z-]+)"', f.read_text()))
        self.assertEqual(names, consts)

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
        # The api checks no parcel itself: everything but CARRIER_CONCURRENCY, plus
        # where the console signs people in.
        self.assertEqual(
            set(env("ApiFunction")), (want - {"CARRIER_CONCURRENCY"}) | CONSOLE_SIGN_IN
        )
        for fn, allowed in [
            ("TrackerFunction", {"RETENTION_DAYS"}),
            ("ApiFunction", {"RETENTION_DAYS"} | CONSOLE_SIGN_IN),
        ]:
            extra = set(env(fn)) - want
            self.assertTrue(extra <= allowed, f"{fn} passes unread {extra}")

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



# ------------------------------------------------------------------ values


PSEUDO = {
    "AWS::Region": "ap-southeast-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "parcel-sentinel",
    "AWS::StackId": "arn:aws:cloudformation:ap-southeast-1:123456789012:stack/"
    "parcel-sentinel/0f3c7a40-9e1d-11ef-8a2b-0a1b2c3d4e5f",
}


def placeholder(name):
    """What a resource's Ref or attribute stands for when values are resolved."""
    return "RESOURCE-" + name.replace(".", "-")


def resolve(node, values):
    """The value of a template expression for parameter `values` (pseudo parameters
    as in PSEUDO, resources as placeholders): Ref, Fn::If over the template's
    conditions, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::GetAtt."""
    if isinstance(node, (str, int, float, bool)):
        return node
    if isinstance(node, list):
        return [resolve(n, values) for n in node]
    (fn, arg), = node.items()
    if fn == "Ref":
        if arg in PSEUDO:
            return PSEUDO[arg]
        if arg in values:
            return values[arg]
        assert arg in RESOURCES, f"Ref to nothing: {arg}"
        return placeholder(arg)
    if fn == "Fn::GetAtt":
        assert arg[0] in RESOURCES, arg
        return placeholder(".".join(arg))
    if fn == "Fn::If":
        cond, yes, no = arg
        return resolve(yes if truth(evaluate(TEMPLATE["Conditions"][cond], values)) else no, values)
    if fn == "Fn::Join":
        sep, items = arg
        return sep.join(resolve(items, values))
    if fn == "Fn::Select":
        i, items = arg
        return resolve(items, values)[int(i)]
    if fn == "Fn::Split":
        sep, s = arg
        return resolve(s, values).split(sep)
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        extra = {k: resolve(v, values) for k, v in extra.items()}

        def one(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if name in PSEUDO:
                return PSEUDO[name]
            if name in values:
                return str(values[name])
            assert name.split(".")[0] in RESOURCES, f"${{{name}}} names nothing"
            return placeholder(name)

        return re.sub(r"\$\{([^}]+)\}", one, text)
    raise AssertionError(f"resolve does not know {fn}")


def with_defaults(**overrides):
    values = defaults()
    for k in overrides:
        assert k in PARAMETERS, f"unknown parameter {k}"
    values.update(overrides)
    return values


def effective_env(fn):
    """The function's variables with the Globals' (SAM merges them)."""
    merged = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(env(fn))
    return merged


@functools.lru_cache(maxsize=None)
def expanded():
    """The template as SAM expands it: plain CloudFormation (what `sam deploy` sends,
    but for the code locations)."""
    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://bucket/key"
    policies = mock.Mock()
    policies.load.return_value = {}
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):
        return transform(template, {}, policies)


# ------------------------------------------------------------------ console sign-in

FUNCTIONS = ["SchedulerFunction", "TrackerFunction", "ApiFunction", "NotifierFunction"]
CONSOLE_SIGN_IN = {"CONSOLE_AUTH_DOMAIN", "CONSOLE_CLIENT_ID"}
# The routes from before the console, exactly (event name: method, path, authorizer).
MACHINE_ROUTES = {
    "RegisterShipments": ("POST", "/shipments", "AWS_IAM"),
    "GetShipment": ("GET", "/shipments/{carrier}/{tracking_number}", "AWS_IAM"),
    "ListShipments": ("GET", "/shipments", "AWS_IAM"),
    "Summary": ("GET", "/summary", "AWS_IAM"),
    "ListProblems": ("GET", "/problems", "AWS_IAM"),
    "ActOnProblem": ("POST", "/problems/{carrier}/{tracking_number}/{rule}", "AWS_IAM"),
    "FindShipment": ("GET", "/shipments/{tracking_number}", "AWS_IAM"),
    "Vocabulary": ("GET", "/vocabulary", "AWS_IAM"),
    "KdniaoCallback": ("POST", "/callbacks/kdniao", "NONE"),
    "Kuaidi100Callback": ("POST", "/callbacks/kuaidi100", "NONE"),
}
CONSOLE_ROUTES = {
    "ConsolePage": ("GET", "/", "NONE"),
    "ConsoleScript": ("GET", "/console.js", "NONE"),
    "ConsoleStyle": ("GET", "/console.css", "NONE"),
    "ConsoleConfig": ("GET", "/console-config.json", "NONE"),
    "ConsoleApiRead": ("GET", "/api/{proxy+}", "ConsoleJwt"),
    "ConsoleApiAct": ("POST", "/api/{proxy+}", "ConsoleJwt"),
}
ISSUER = {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${ConsoleUserPool}"}
PREFIX_DEFAULT_RE = r"sentinel-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Cognito's own rule for a prefix domain.
COGNITO_DOMAIN_RE = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"


def http_routes(fn):
    out = {}
    for name, e in props(fn).get("Events", {}).items():
        if e["Type"] == "HttpApi":
            p = e["Properties"]
            assert p["ApiId"] == {"Ref": "HttpApi"}, name
            out[name] = (p["Method"], p["Path"], p["Auth"]["Authorizer"])
    return out


class ConsoleSignIn(unittest.TestCase):
    def test_the_jwt_authorizer_takes_the_pools_tokens_for_the_console_client(self):
        auth = props("HttpApi")["Auth"]
        # Adding an authorizer changes neither the default nor IAM.
        self.assertEqual(auth["DefaultAuthorizer"], "AWS_IAM")
        self.assertIs(auth["EnableIamAuthorizer"], True)
        self.assertEqual(list(auth["Authorizers"]), ["ConsoleJwt"])
        jwt = auth["Authorizers"]["ConsoleJwt"]
        self.assertEqual(jwt["IdentitySource"], "$request.header.Authorization")
        self.assertEqual(jwt["JwtConfiguration"]["issuer"], ISSUER)
        self.assertEqual(jwt["JwtConfiguration"]["audience"], [{"Ref": "ConsoleUserPoolClient"}])

    def test_every_route_and_its_authorizer(self):
        # Every route from before kept as it was, and the six console routes.
        self.assertEqual(http_routes("ApiFunction"), {**MACHINE_ROUTES, **CONSOLE_ROUTES})
        for fn in FUNCTIONS:
            if fn != "ApiFunction":
                self.assertEqual(http_routes(fn), {}, fn)

    def test_the_expanded_api_gives_each_route_its_authorizer(self):
        # What API Gateway receives: the OpenAPI body SAM writes, where a default
        # authorizer would show if it had been applied to a route.
        api = expanded()["Resources"]["HttpApi"]
        self.assertEqual(api["Type"], "AWS::ApiGatewayV2::Api")
        body = api["Properties"]["Body"]
        got = {}
        for path, ops in body["paths"].items():
            for method, op in ops.items():
                (security,) = op["security"]
                got[(method.upper(), path)] = list(security)
        want = {(m, p): [a] for m, p, a in {**MACHINE_ROUTES, **CONSOLE_ROUTES}.values()}
        self.assertEqual(got, want)
        jwt = body["components"]["securitySchemes"]["ConsoleJwt"]["x-amazon-apigateway-authorizer"]
        self.assertEqual(jwt["type"], "jwt")
        self.assertEqual(jwt["jwtConfiguration"]["issuer"], ISSUER)
        self.assertEqual(jwt["jwtConfiguration"]["audience"], [{"Ref": "ConsoleUserPoolClient"}])

    def test_the_pool_admits_only_people_an_administrator_created(self):
        pool = RESOURCES["ConsoleUserPool"]
        self.assertEqual(pool["Type"], "AWS::Cognito::UserPool")
        p = pool["Properties"]
        self.assertIs(p["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], True)
        self.assertEqual(p["UsernameAttributes"], ["email"])
        pw = p["Policies"]["PasswordPolicy"]
        self.assertGreaterEqual(pw["MinimumLength"], 12)
        for k in ["RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"]:
            self.assertIs(pw[k], True, k)
        self.assertEqual(p["MfaConfiguration"], "OPTIONAL")
        self.assertEqual(p["EnabledMfas"], ["SOFTWARE_TOKEN_MFA"])

    def test_the_groups_ops_and_viewer(self):
        groups = {
            r["Properties"]["GroupName"]: r["Properties"]
            for r in RESOURCES.values()
            if r["Type"] == "AWS::Cognito::UserPoolGroup"
        }
        self.assertEqual(set(groups), {"ops", "viewer"})
        for g in groups.values():
            self.assertEqual(g["UserPoolId"], {"Ref": "ConsoleUserPool"})
        self.assertIn("acknowledge", groups["ops"]["Description"])
        self.assertIn("Read only", groups["viewer"]["Description"])

    def test_the_client_is_public_and_uses_the_code_flow_only(self):
        c = props("ConsoleUserPoolClient")
        self.assertEqual(c["UserPoolId"], {"Ref": "ConsoleUserPool"})
        self.assertIs(c["GenerateSecret"], False)
        self.assertIs(c["AllowedOAuthFlowsUserPoolClient"], True)
        self.assertEqual(c["AllowedOAuthFlows"], ["code"])
        self.assertEqual(sorted(c["AllowedOAuthScopes"]), ["email", "openid", "profile"])
        self.assertEqual(c["SupportedIdentityProviders"], ["COGNITO"])
        self.assertEqual(c["PreventUserExistenceErrors"], "ENABLED")
        # No flow that sends the password itself.
        self.assertFalse([f for f in c["ExplicitAuthFlows"] if "PASSWORD" in f])
        units = c["TokenValidityUnits"]
        self.assertEqual((c["IdTokenValidity"], units["IdToken"]), (1, "hours"))
        self.assertEqual((c["AccessTokenValidity"], units["AccessToken"]), (1, "hours"))
        self.assertLessEqual(c["RefreshTokenValidity"], 24)
        self.assertEqual(units["RefreshToken"], "hours")

    def test_the_callback_is_console_url_when_set(self):
        c = props("ConsoleUserPoolClient")
        url = "https://abc123.execute-api.ap-southeast-1.amazonaws.com/"
        for key in ["CallbackURLs", "LogoutURLs"]:
            self.assertEqual(resolve(c[key], with_defaults(ConsoleUrl=url)), [url], key)
            # Until the second deploy: a placeholder (sign-in does not work yet).
            self.assertEqual(resolve(c[key], with_defaults()), ["http://localhost:8080/"], key)

    def test_one_sign_in_domain_everywhere(self):
        domain = props("ConsoleUserPoolDomain")
        self.assertEqual(domain["UserPoolId"], {"Ref": "ConsoleUserPool"})
        page = effective_env("ApiFunction")["CONSOLE_AUTH_DOMAIN"]
        output = TEMPLATE["Outputs"]["ConsoleSignInDomain"]["Value"]
        for values, prefix in [
            (with_defaults(), None),
            (with_defaults(ConsoleAuthDomainPrefix="myshop-ops"), "myshop-ops"),
        ]:
            got = resolve(domain["Domain"], values)
            if prefix is None:
                self.assertRegex(got, "^" + PREFIX_DEFAULT_RE + "$")
                self.assertTrue(PSEUDO["AWS::StackId"].endswith(got[len("sentinel-"):]))
            else:
                self.assertEqual(got, prefix)
            self.assertRegex(got, "^" + COGNITO_DOMAIN_RE + "$")
            want = f"https://{got}.auth.{PSEUDO['AWS::Region']}.amazoncognito.com"
            self.assertEqual(resolve(page, values), want)
            self.assertEqual(resolve(output, values), want)

    def test_the_parameters_patterns(self):
        prefix = PARAMETERS["ConsoleAuthDomainPrefix"]["AllowedPattern"]
        for ok in ["", "myshop-ops", "ops2"]:
            self.assertRegex(ok, prefix)
        for bad in ["MyShop", "-ops", "ops-", "my_shop", "a" * 64]:
            self.assertNotRegex(bad, prefix)
        url = PARAMETERS["ConsoleUrl"]["AllowedPattern"]
        for ok in ["", "https://abc123.execute-api.ap-southeast-1.amazonaws.com/", "http://localhost:8080/"]:
            self.assertRegex(ok, url)
        # What shared/src/message/link.rs refuses at cold start is refused at deploy time.
        for bad in [
            "http://example.com/", "https://x.example.com/#top", "ftp://x/", "https:///",
            "https://x.example.com/(a)", "https://x.example.com/{a}", "https://x.example.com/é",
            "https://x.example.com/a b", 'https://x.example.com/"', "https://x.example.com/|",
        ]:
            self.assertNotRegex(bad, url)
        self.assertEqual(PARAMETERS["ConsoleUrl"]["MaxLength"], 512)
        self.assertEqual(PARAMETERS["ConsoleUrl"]["Default"], "")
        self.assertEqual(PARAMETERS["ConsoleAuthDomainPrefix"]["Default"], "")

    def test_console_and_metrics_variables(self):
        # Every function renders messages (tracker, scheduler and api: the SNS SMS and
        # e-mail texts; notifier: the chat digests), so every one links the console,
        # and every one writes metrics.
        for fn in FUNCTIONS:
            e = effective_env(fn)
            self.assertEqual(e["CONSOLE_URL"], {"Ref": "ConsoleUrl"}, fn)
            self.assertEqual(e["METRICS_NAMESPACE"], {"Ref": "MetricsNamespace"}, fn)
            main = (ROOT / props(fn)["CodeUri"] / "src" / "main.rs").read_text(encoding="utf-8")
            self.assertTrue("MessageSettings" in main or "Templates" in main, fn)
        # Only the api serves the page its sign-in settings.
        for fn in FUNCTIONS:
            has = CONSOLE_SIGN_IN & set(effective_env(fn))
            self.assertEqual(has, CONSOLE_SIGN_IN if fn == "ApiFunction" else set(), fn)
        self.assertEqual(env("ApiFunction")["CONSOLE_CLIENT_ID"], {"Ref": "ConsoleUserPoolClient"})

    def test_outputs(self):
        outputs = TEMPLATE["Outputs"]
        for name in ["ApiUrl", "ConsoleUserPoolId", "ConsoleUserPoolClientId", "ConsoleSignInDomain"]:
            self.assertIn(name, outputs)
        self.assertEqual(outputs["ConsoleUserPoolId"]["Value"], {"Ref": "ConsoleUserPool"})
        self.assertEqual(outputs["ConsoleUserPoolClientId"]["Value"], {"Ref": "ConsoleUserPoolClient"})
        api = resolve(outputs["ApiUrl"]["Value"], defaults())
        self.assertEqual(resolve(outputs["ConsolePageUrl"]["Value"], defaults()), api + "/")
        self.assertRegex(api + "/", PARAMETERS["ConsoleUrl"]["AllowedPattern"])


# ------------------------------------------------------------------ metrics

# The functions' Embedded Metric Format contract: each metric is written without
# dimensions (the total) and with these dimensions (none: the total only).
METRICS = {
    "ParcelsChecked": [],
    "CarrierQueries": ["Provider", "Carrier"],
    "CarrierErrors": ["Provider", "Carrier"],
    "Alerts": ["Rule", "Severity"],
    "NotificationsSent": ["Channel"],
    "NotificationsFailed": ["Channel"],
    "OutboxOldestAgeSeconds": [],
    "QueriesDeferred": ["Provider"],
    "QueryBudgetShort": ["Provider"],
}
NAMESPACE = {"Ref": "MetricsNamespace"}
ALARMS_TOPIC = [{"Ref": "AlarmsTopic"}]


def rust_contract():
    """The metric names and label names the code writes: the `NAMES` and `LABELS`
    lists of shared/src/metrics.rs, each entry a `pub const X: &str = "...";` there."""
    text = (ROOT / "shared" / "src" / "metrics.rs").read_text(encoding="utf-8")
    consts = dict(re.findall(r'pub const ([A-Z_]+): &str = "([^"]*)";', text))

    def listed(name):
        m = re.search(rf"pub const {name}: \[&str; (\d+)\] = \[([^\]]*)\];", text)
        assert m, f"{name} not found in shared/src/metrics.rs"
        items = re.findall(r"[A-Z_]+", m.group(2))
        assert len(items) == int(m.group(1)), (name, items)
        return {consts[i] for i in items}

    return listed("NAMES"), listed("LABELS"), consts["DEFAULT_NAMESPACE"]


def metric_stats(alarm):
    """{id: (metric name, stat, period)} of a metric-math alarm, checking that each
    reads a total (no dimensions) of the project's namespace."""
    out = {}
    for q in props(alarm)["Metrics"]:
        if "MetricStat" in q:
            m = q["MetricStat"]["Metric"]
            assert m["Namespace"] == NAMESPACE, alarm
            assert "Dimensions" not in m, alarm
            assert q["ReturnData"] is False, alarm
            out[q["Id"]] = (m["MetricName"], q["MetricStat"]["Stat"], q["MetricStat"]["Period"])
    return out


def expression(alarm):
    (q,) = [q for q in props(alarm)["Metrics"] if "Expression" in q]
    assert q["ReturnData"] is True
    return q["Expression"]


class Metrics(unittest.TestCase):
    def test_the_namespace_parameter(self):
        p = PARAMETERS["MetricsNamespace"]
        self.assertEqual(p["Default"], "ParcelSentinel")
        for ok in ["ParcelSentinel", "Shop.Ops/Sentinel-1_a"]:
            self.assertRegex(ok, p["AllowedPattern"])
        for bad in ["", "with space", 'q"uote', "a{b}"]:
            self.assertNotRegex(bad, p["AllowedPattern"])

    def test_the_contract_is_what_the_code_writes(self):
        names, labels, default = rust_contract()
        self.assertEqual(set(METRICS), names)
        for name, dims in METRICS.items():
            self.assertLessEqual(set(dims), labels, name)
        self.assertEqual(PARAMETERS["MetricsNamespace"]["Default"], default)
        # And directly: every metric of the namespace an alarm or the dashboard
        # reads is one the code writes.
        read = set()
        for r in RESOURCES.values():
            if r["Type"] != "AWS::CloudWatch::Alarm":
                continue
            p = r["Properties"]
            if p.get("Namespace") == NAMESPACE:
                read.add(p["MetricName"])
            for q in p.get("Metrics", []):
                metric = q.get("MetricStat", {}).get("Metric", {})
                if metric.get("Namespace") == NAMESPACE:
                    read.add(metric["MetricName"])
        body, ns = self.dashboard()
        for w in body["widgets"]:
            for row in w.get("properties", {}).get("metrics", []):
                if isinstance(row[0], dict):
                    m = re.search(
                        r'\{\"(.+)\",([A-Za-z,]+)\} MetricName=\"(\w+)\"', row[0]["expression"]
                    )
                    if m and m.group(1) == ns:
                        read.add(m.group(3))
                        self.assertLessEqual(set(m.group(2).split(",")), labels, row)
                elif row[0] == ns:
                    read.add(row[1])
        self.assertTrue(read)
        self.assertLessEqual(read, names)

    def test_every_alarm_notifies_the_alarms_topic(self):
        alarms = [n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"]
        for a in ["CarrierErrorRateAlarm", "OutboxAgeAlarm", "NotificationFailuresAlarm"]:
            self.assertIn(a, alarms)
        for name in alarms:
            p = props(name)
            self.assertEqual(p["AlarmActions"], ALARMS_TOPIC, name)
            self.assertEqual(p["OKActions"], ALARMS_TOPIC, name)
            self.assertEqual(p["TreatMissingData"], "notBreaching", name)

    def test_the_carrier_error_rate_alarm(self):
        self.assertEqual(
            metric_stats("CarrierErrorRateAlarm"),
            {"queries": ("CarrierQueries", "Sum", 300), "errors": ("CarrierErrors", "Sum", 300)},
        )
        self.assertEqual(expression("CarrierErrorRateAlarm"), "IF(queries >= 20, errors / queries, 0)")
        p = props("CarrierErrorRateAlarm")
        self.assertEqual(p["Threshold"], {"Ref": "CarrierErrorRateAlarmThreshold"})
        self.assertEqual(p["ComparisonOperator"], "GreaterThanThreshold")
        self.assertEqual((p["EvaluationPeriods"], p["DatapointsToAlarm"]), (3, 2))
        t = PARAMETERS["CarrierErrorRateAlarmThreshold"]
        self.assertEqual((t["Type"], t["Default"], t["MinValue"], t["MaxValue"]), ("Number", 0.2, 0, 1))

    def test_the_outbox_age_alarm(self):
        self.assertEqual(
            metric_stats("OutboxAgeAlarm"), {"age": ("OutboxOldestAgeSeconds", "Maximum", 300)}
        )
        # Seconds to minutes, so that the threshold is the parameter as given.
        self.assertEqual(expression("OutboxAgeAlarm"), "age / 60")
        p = props("OutboxAgeAlarm")
        self.assertEqual(p["Threshold"], {"Ref": "OutboxAgeAlarmMinutes"})
        self.assertEqual(p["ComparisonOperator"], "GreaterThanThreshold")
        self.assertEqual(p["EvaluationPeriods"], 2)
        m = PARAMETERS["OutboxAgeAlarmMinutes"]
        self.assertEqual((m["Type"], m["Default"], m["MinValue"]), ("Number", 30, 5))

    def test_the_notification_failures_alarm(self):
        p = props("NotificationFailuresAlarm")
        self.assertEqual((p["Namespace"], p["MetricName"]), (NAMESPACE, "NotificationsFailed"))
        self.assertNotIn("Dimensions", p)
        self.assertEqual((p["Statistic"], p["Period"], p["Threshold"]), ("Sum", 300, 0))
        self.assertEqual(p["ComparisonOperator"], "GreaterThanThreshold")
        self.assertEqual((p["EvaluationPeriods"], p["DatapointsToAlarm"]), (3, 2))

    def test_alarms_read_only_metrics_of_the_contract(self):
        for name, r in RESOURCES.items():
            if r["Type"] != "AWS::CloudWatch::Alarm":
                continue
            p = r["Properties"]
            if p.get("Namespace") == NAMESPACE:
                self.assertIn(p["MetricName"], METRICS, name)
            for q in p.get("Metrics", []):
                if "MetricStat" in q:
                    self.assertIn(q["MetricStat"]["Metric"]["MetricName"], METRICS, name)

    def dashboard(self, **overrides):
        d = RESOURCES["Dashboard"]
        self.assertEqual(d["Type"], "AWS::CloudWatch::Dashboard")
        values = with_defaults(**overrides)
        self.assertEqual(resolve(d["Properties"]["DashboardName"], values), "parcel-sentinel-sentinel")
        return json.loads(resolve(d["Properties"]["DashboardBody"], values)), values["MetricsNamespace"]

    def test_the_dashboard_is_json_and_shows_every_metric_of_the_contract(self):
        for ns in ["ParcelSentinel", "Shop.Ops/Sentinel-1_a"]:
            body, ns = self.dashboard(MetricsNamespace=ns)
            plain, searched, alarms = set(), set(), []
            for w in body["widgets"]:
                self.assertLessEqual(w["x"] + w["width"], 24)
                p = w["properties"]
                if w["type"] == "alarm":
                    alarms += p["alarms"]
                if w["type"] != "metric":
                    continue
                self.assertEqual(p["region"], PSEUDO["AWS::Region"])
                for row in p["metrics"]:
                    if isinstance(row[0], dict):
                        m = re.fullmatch(
                            r"SEARCH\('\{\"(.+)\",([A-Za-z,]+)\} MetricName=\"(\w+)\"', '(\w+)', 300\)",
                            row[0]["expression"],
                        )
                        if m:
                            self.assertEqual(m.group(1), ns)
                            searched.add((m.group(3), tuple(m.group(2).split(","))))
                    elif row[0] == ns:
                        self.assertIn(row[1], METRICS)
                        # Totals only: no dimension name/value pairs.
                        self.assertTrue(len(row) == 2 or isinstance(row[2], dict), row)
                        plain.add(row[1])
            self.assertEqual(plain, set(METRICS))
            self.assertEqual(
                searched, {(name, tuple(dims)) for name, dims in METRICS.items() if dims}
            )
            for a in ["CarrierErrorRateAlarm", "OutboxAgeAlarm", "NotificationFailuresAlarm"]:
                self.assertIn(placeholder(a + ".Arn"), alarms)

    def test_the_dashboard_draws_the_alarm_thresholds(self):
        body, _ = self.dashboard(CarrierErrorRateAlarmThreshold="0.35", OutboxAgeAlarmMinutes="45")
        lines = [
            h["value"]
            for w in body["widgets"]
            for h in w["properties"].get("annotations", {}).get("horizontal", [])
        ]
        self.assertEqual(sorted(lines), [0.35, 45])
        # The error rate graph computes what the alarm computes.
        exprs = [
            row[0]["expression"]
            for w in body["widgets"] if w["type"] == "metric"
            for row in w["properties"]["metrics"] if isinstance(row[0], dict)
        ]
        self.assertIn(expression("CarrierErrorRateAlarm"), exprs)
        self.assertIn(expression("OutboxAgeAlarm"), exprs)


# ------------------------------------------------------------------ dependencies


def references(node, resources, sub_names=()):
    """The resources an expanded template value refers to."""
    out = set()
    if isinstance(node, list):
        for n in node:
            out |= references(n, resources)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and v in resources:
                out.add(v)
            elif k == "Fn::GetAtt":
                name = v[0] if isinstance(v, list) else v.split(".")[0]
                out.add(name)
            elif k == "Fn::Sub":
                text, extra = (v, {}) if isinstance(v, str) else v
                for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    name = name.split(".")[0]
                    if name in resources and name not in extra:
                        out.add(name)
                out |= references(extra, resources)
            else:
                out |= references(v, resources)
    return out


def dependencies():
    resources = expanded()["Resources"]
    graph = {}
    for name, r in resources.items():
        deps = references(r.get("Properties", {}), resources)
        d = r.get("DependsOn", [])
        deps |= set([d] if isinstance(d, str) else d)
        graph[name] = deps
    return graph


def reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for d in graph[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


class Dependencies(unittest.TestCase):
    def test_no_cycle(self):
        graph = dependencies()
        for name in graph:
            self.assertNotIn(name, reachable(graph, name), f"{name} depends on itself")

    def test_the_console_client_does_not_depend_on_the_api(self):
        # The API's authorizer names the client, so the client (and the pool) may not
        # wait for the API: that is why ConsoleUrl is a parameter.
        graph = dependencies()
        self.assertIn("ConsoleUserPoolClient", reachable(graph, "HttpApi"))
        for name in ["ConsoleUserPoolClient", "ConsoleUserPool", "ConsoleUserPoolDomain"]:
            deps = reachable(graph, name)
            self.assertFalse({"HttpApi", "ApiFunction"} & deps, f"{name}: {deps}")


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=1).result.wasSuccessful() else 1)
