#!/usr/bin/python3
"""
check-manifests.py: checks every ```yaml block of the identity guides.

Each block must parse (PyYAML, with duplicate keys refused, since Kubernetes
refuses them too). Each document is then one of:

- a Kubernetes object (apiVersion + kind of the core API): its field names
  and types are walked against the models of the Kubernetes Python client
  (Debian's python3-kubernetes), and it is deserialised through them, which
  also checks required fields;
- an object of another API the guides use (Calico, SPIRE,
  EncryptionConfiguration): walked against the field lists below;
- a keywardd configuration (has `listeners`): walked against the documented
  keys;
- a CI file (GitHub Actions, GitLab CI): parsed, and its top-level shape
  checked.

Anything else is an error, so no block goes unchecked. Every ```json block
must parse as JSON (with duplicate keys refused). Usage:

    docs/identity/check-manifests.py [FILE.md ...]

With no arguments it checks docs/identity/*.md, docs/configuration.md and
docs/api.md.
Exit 0 if every block passes, 1 otherwise.
"""
import glob
import json
import os
import re
import sys

import yaml

try:
    import kubernetes.client as k8s
except ImportError:
    sys.exit("check-manifests: needs python3-kubernetes (apt-get install python3-kubernetes)")


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicate key %r" % (key,), key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

FENCE = re.compile(r"^```(yaml|yml)\s*$")


def yaml_blocks(path, fence=FENCE):
    """(first line number, text) of each ```yaml (or fence) block."""
    blocks, cur, start = [], None, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if cur is None:
                if fence.match(line):
                    cur, start = [], n + 1
            elif line.startswith("```"):
                blocks.append((start, "".join(cur)))
                cur = None
            else:
                cur.append(line)
    if cur is not None:
        blocks.append((start, None))  # unterminated fence
    return blocks


# ---- Kubernetes core API, through the client's models ----

# apiVersion -> prefix of the model class names.
K8S_GROUPS = {
    "v1": "V1",
    "apps/v1": "V1",
    "rbac.authorization.k8s.io/v1": "V1",
    "networking.k8s.io/v1": "V1",
}

SCALARS = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
}


def walk_model(value, typ, where, errs):
    """Check value against the client's type name typ (e.g. 'list[V1Volume]')."""
    if typ == "object":
        return
    if typ.startswith("list[") and typ.endswith("]"):
        if not isinstance(value, list):
            errs.append("%s: must be a list" % where)
            return
        for i, v in enumerate(value):
            walk_model(v, typ[5:-1], "%s[%d]" % (where, i), errs)
        return
    if typ.startswith("dict(") and typ.endswith(")"):
        if not isinstance(value, dict):
            errs.append("%s: must be a mapping" % where)
            return
        inner = typ[5:-1].split(",", 1)[1].strip()
        for k, v in value.items():
            walk_model(v, inner, "%s.%s" % (where, k), errs)
        return
    if typ in SCALARS:
        ok = isinstance(value, SCALARS[typ])
        if typ in ("int", "float") and isinstance(value, bool):
            ok = False
        if not ok:
            errs.append("%s: must be %s, is %r" % (where, typ, value))
        return
    if typ == "datetime":
        return
    model = getattr(k8s, typ, None)
    if model is None:
        errs.append("%s: unknown model %s" % (where, typ))
        return
    if not isinstance(value, dict):
        errs.append("%s: must be a mapping (%s)" % (where, typ))
        return
    by_json = {j: a for a, j in model.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            errs.append("%s: unknown field %r in %s" % (where, k, typ))
            continue
        walk_model(v, model.openapi_types[by_json[k]], "%s.%s" % (where, k), errs)


def check_k8s(doc, errs):
    prefix = K8S_GROUPS[doc["apiVersion"]]
    typ = prefix + doc["kind"]
    if getattr(k8s, typ, None) is None:
        errs.append("no model %s for kind %s" % (typ, doc["kind"]))
        return
    walk_model(doc, typ, doc["kind"], errs)
    if errs:
        return
    # Deserialising runs the models' own required-field checks.
    api = k8s.ApiClient()
    try:
        api._ApiClient__deserialize(doc, typ)
    except (ValueError, TypeError) as e:
        errs.append("%s: %s" % (doc["kind"], e))


# ---- other APIs, by field list ----
# A schema is a dict of field -> schema, a list [schema] for a list of those,
# a type, or ANY. Only the fields the guides use need be present, but every
# one listed is a real field of that API.

ANY = object()
LABEL_SELECTOR = {"matchLabels": {str: str}, "matchExpressions": [{
    "key": str, "operator": str, "values": [str]}]}
METADATA = {"name": str, "namespace": str, "labels": {str: str},
            "annotations": {str: str}}

CALICO_ENTITY = {
    "nets": [str], "notNets": [str], "selector": str, "notSelector": str,
    "namespaceSelector": str, "ports": [(int, str)], "notPorts": [(int, str)],
    "serviceAccounts": {"names": [str], "selector": str},
    "services": {"name": str, "namespace": str},
}
CALICO_RULE = {
    "action": ("Allow", "Deny", "Log", "Pass"), "ipVersion": int,
    "protocol": (str, int), "notProtocol": (str, int),
    "icmp": {"type": int, "code": int}, "notICMP": {"type": int, "code": int},
    "source": CALICO_ENTITY, "destination": CALICO_ENTITY,
    "http": {"methods": [str], "paths": [ANY]},
    "metadata": {"annotations": {str: str}},
}
CALICO_GNP = {
    "apiVersion": str, "kind": str, "metadata": METADATA,
    "spec": {
        "order": (int, float), "tier": str, "selector": str,
        "namespaceSelector": str, "serviceAccountSelector": str,
        "types": [("Ingress", "Egress")], "ingress": [CALICO_RULE],
        "egress": [CALICO_RULE], "doNotTrack": bool, "preDNAT": bool,
        "applyOnForward": bool,
    },
}
ENCRYPTION_CONFIG = {
    "apiVersion": str, "kind": str,
    "resources": [{
        "resources": [str],
        "providers": [{
            "identity": {},
            "kms": {"apiVersion": ("v1", "v2"), "name": str, "endpoint": str,
                    "cachesize": int, "timeout": str},
            "aescbc": {"keys": [{"name": str, "secret": str}]},
            "aesgcm": {"keys": [{"name": str, "secret": str}]},
            "secretbox": {"keys": [{"name": str, "secret": str}]},
        }],
    }],
}
CLUSTER_SPIFFE_ID = {
    "apiVersion": str, "kind": str, "metadata": METADATA,
    "spec": {
        "spiffeIDTemplate": str, "namespaceSelector": LABEL_SELECTOR,
        "podSelector": LABEL_SELECTOR, "dnsNameTemplates": [str],
        "workloadSelectorTemplates": [str], "federatesWith": [str],
        "ttl": str, "jwtTtl": str, "admin": bool, "downstream": bool,
        "hint": str, "className": str,
    },
}
OTHER_APIS = {
    ("projectcalico.org/v3", "GlobalNetworkPolicy"): CALICO_GNP,
    ("apiserver.config.k8s.io/v1", "EncryptionConfiguration"): ENCRYPTION_CONFIG,
    ("spire.spiffe.io/v1alpha1", "ClusterSPIFFEID"): CLUSTER_SPIFFE_ID,
}

# keywardd's YAML (docs/configuration.md).
KEYWARDD = {
    "storage": {"path": str},
    "listeners": [{
        "address": str, "tls_cert_file": str, "tls_key_file": str,
        "tls_client_ca_file": str,
        "tls_client_auth": ("none", "request", "require"),
        "identity": {"name": str, "policies": [str], "allow": [str]},
    }],
    "limits": {"max_body_bytes": int, "threads": int,
               "connection_timeout": int, "connection_limit": int,
               "rate": int, "burst": int},
    "audit": {"forced": bool, "dir": str, "sink": str},
    "log_level": ("debug", "info", "warn", "error"),
    "user": str,
}


def walk_schema(value, schema, where, errs):
    if schema is ANY:
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            errs.append("%s: must be a mapping" % where)
            return
        if len(schema) == 1 and next(iter(schema)) is str:  # map of str -> x
            for k, v in value.items():
                if not isinstance(k, str):
                    errs.append("%s: key %r must be a string" % (where, k))
                walk_schema(v, schema[str], "%s.%s" % (where, k), errs)
            return
        for k, v in value.items():
            if k not in schema:
                errs.append("%s: unknown field %r" % (where, k))
                continue
            walk_schema(v, schema[k], "%s.%s" % (where, k), errs)
        return
    if isinstance(schema, list):
        if not isinstance(value, list):
            errs.append("%s: must be a list" % where)
            return
        for i, v in enumerate(value):
            walk_schema(v, schema[0], "%s[%d]" % (where, i), errs)
        return
    if isinstance(schema, tuple) and all(isinstance(s, str) for s in schema):
        if value not in schema:
            errs.append("%s: %r is not one of %s" % (where, value, ", ".join(schema)))
        return
    types = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in types:
        errs.append("%s: must be %s, is %r" % (where, schema, value))
    elif not isinstance(value, types):
        errs.append("%s: must be %s, is %r" % (where, schema, value))


def check_other(doc, errs):
    schema = OTHER_APIS[(doc["apiVersion"], doc["kind"])]
    walk_schema(doc, schema, doc["kind"], errs)
    if doc["kind"] == "EncryptionConfiguration":
        for r in doc.get("resources", []):
            for p in r.get("providers", []):
                if len(p) != 1:
                    errs.append("EncryptionConfiguration: a provider must have exactly one type")
                kms = p.get("kms")
                if kms is not None:
                    if kms.get("apiVersion") != "v2" or ":" in kms.get("name", ":"):
                        errs.append("kms: apiVersion must be v2 and name must not contain ':'")
                    if not kms.get("endpoint", "").startswith("unix://"):
                        errs.append("kms: endpoint must be unix://")
    elif "name" not in doc.get("metadata", {}):
        errs.append("%s: metadata.name missing" % doc["kind"])


def check_keywardd(doc, errs):
    walk_schema(doc, KEYWARDD, "keywardd", errs)
    for i, lst in enumerate(doc.get("listeners", [])):
        auth = lst.get("tls_client_auth", "none")
        if auth != "none" and "tls_client_ca_file" not in lst:
            errs.append("listeners[%d]: tls_client_auth %s needs tls_client_ca_file" % (i, auth))
        if ("tls_client_ca_file" in lst or auth != "none") and "tls_cert_file" not in lst:
            errs.append("listeners[%d]: client certificates need a TLS listener" % i)
        ident = lst.get("identity")
        if ident is not None:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", str(ident.get("name", ""))):
                errs.append("listeners[%d].identity.name: letters, digits, _ and -" % i)
            if not ident.get("allow"):
                errs.append("listeners[%d].identity.allow: at least one range" % i)


def check_ci(doc, text, errs):
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if ".github/workflows/" in first:
        # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
        if "jobs" not in doc or ("on" not in doc and True not in doc):
            errs.append("GitHub workflow: needs `on` and `jobs`")
        for name, job in doc.get("jobs", {}).items():
            if "runs-on" not in job or "steps" not in job:
                errs.append("GitHub job %s: needs runs-on and steps" % name)
        return True
    if ".gitlab-ci.yml" in first:
        for name, job in doc.items():
            if isinstance(job, dict) and "script" not in job:
                errs.append("GitLab job %s: needs script" % name)
        return True
    return False


def check_doc(doc, text):
    """Errors of one YAML document, and what kind of document it was."""
    errs = []
    if not isinstance(doc, dict):
        return ["a YAML block must hold a mapping"], "?"
    key = (doc.get("apiVersion"), doc.get("kind"))
    if doc.get("apiVersion") in K8S_GROUPS and "kind" in doc:
        check_k8s(doc, errs)
        return errs, "%s %s" % key
    if key in OTHER_APIS:
        check_other(doc, errs)
        return errs, "%s %s" % key
    if "listeners" in doc or "storage" in doc:
        check_keywardd(doc, errs)
        return errs, "keywardd config"
    if check_ci(doc, text, errs):
        return errs, "CI file"
    return ["not a known kind of document (apiVersion/kind, keywardd config, CI file)"], "?"


JSON_FENCE = re.compile(r"^```json\s*$")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in %r" % (keys,))
    return dict(pairs)


def check_json(path):
    failed = checked = 0
    for line, text in yaml_blocks(path, JSON_FENCE):
        checked += 1
        try:
            json.loads(text or "", object_pairs_hook=_no_duplicates)
            print("%s:%d: ok: JSON" % (path, line))
        except ValueError as e:
            print("%s:%d: JSON: %s" % (path, line, e))
            failed += 1
    return checked, failed


def check_file(path):
    checked, failed = check_json(path)
    for line, text in yaml_blocks(path):
        if text is None:
            print("%s:%d: unterminated ```yaml block" % (path, line))
            checked += 1
            failed += 1
            continue
        try:
            docs = [d for d in yaml.load_all(text, Loader=UniqueKeyLoader) if d is not None]
        except yaml.YAMLError as e:
            print("%s:%d: YAML: %s" % (path, line, str(e).replace("\n", " ")))
            checked += 1
            failed += 1
            continue
        if not docs:
            print("%s:%d: empty YAML block" % (path, line))
            checked += 1
            failed += 1
        for doc in docs:
            errs, what = check_doc(doc, text)
            checked += 1
            for e in errs:
                print("%s:%d: %s: %s" % (path, line, what, e))
            if errs:
                failed += 1
            else:
                print("%s:%d: ok: %s" % (path, line, what))
    return checked, failed


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    files = argv[1:] or sorted(glob.glob(os.path.join(here, "*.md"))) + [
        os.path.join(here, "..", "configuration.md"), os.path.join(here, "..", "api.md")]
    checked = failed = 0
    for f in files:
        c, n = check_file(f)
        checked += c
        failed += n
    print("%d passed, %d failed" % (checked - failed, failed))
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
