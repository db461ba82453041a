#!/usr/bin/env bash
# Renders, lints and validates the Helm chart deploy/helm/restic-verify offline:
#   scripts/helm-test.sh [--update]
# For every values file in deploy/helm/restic-verify/examples/:
#   1. `helm lint --strict` and `helm template` through PyPI's helm-python-sdk
#      (pinned 0.2.2: Helm v4's library over a C ABI; Helm itself is not in Debian),
#   2. `kubernetes-validate --strict` (pinned 1.37.0, schemas bundled) of every
#      rendered manifest for Kubernetes 1.32 to 1.37 (upstream supports 1.35-1.37
#      in December 2026; managed offerings still run 1.32-1.34),
#   3. `restic-verify validate` of the profile the ConfigMap holds (secret paths
#      pointed at stand-in files), and for a sharded example `validate --json
#      --shard k/n` for every k: every repository in exactly one shard,
# then checks that bad values fail to render with a message naming the value, and
# that docs/kubernetes-rendered.yaml is the render of examples/per-repository.yaml
# (--update rewrites it). The tools go into a venv ($HELM_VENV, default
# target/helm-venv). Under CI=true a tool that cannot be installed is a failure;
# elsewhere the test is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
update=0
[ "${1:-}" = --update ] && update=1
chart=deploy/helm/restic-verify
venv=${HELM_VENV:-target/helm-venv}
bin=${RESTIC_VERIFY_BIN:-target/debug/restic-verify}
ci=${CI:-}

if ! "$venv/bin/python" -c 'import helm_python, kubernetes_validate, yaml' 2>/dev/null; then
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 pyyaml; }; then
    if [ "$ci" = true ] || [ "$ci" = 1 ]; then
      echo "helm-test: cannot install helm-python-sdk 0.2.2 / kubernetes-validate 1.37.0 into $venv" >&2
      exit 1
    fi
    echo "helm-test: skipped: helm-python-sdk / kubernetes-validate not installable here" >&2
    exit 0
  fi
fi
[ -x "$bin" ] || cargo build --quiet
work=$(mktemp -d /tmp/rv-helm-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$venv/bin/python" - "$chart" "$work" "$bin" <<'EOF'
import glob, json, os, subprocess, sys
import yaml
import helm_python as helm

chart_dir, work, binary = sys.argv[1:4]
chart = helm.Chart.load(chart_dir)
versions = ["1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"]


def render(values):
    """The parsed manifests, and the text as `helm template` prints it."""
    out = chart.render(values, name="rv", namespace="backup", is_install=True)
    docs, text = [], ""
    for path in sorted(out):
        for part in out[path].split("\n---\n"):
            doc = yaml.safe_load(part)
            if doc:
                docs.append((path, doc))
                text += f"---\n# Source: {path}\n{part.strip().removeprefix('---').strip()}\n"
    return docs, text


for example in sorted(glob.glob(os.path.join(chart_dir, "examples", "*.yaml"))):
    name = os.path.basename(example)[: -len(".yaml")]
    values = yaml.safe_load(open(example))
    report = helm.lint(chart_dir, values, strict=True)
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    if report.get("errors") or bad:
        sys.exit(f"helm-test: lint {example}: {report.get('errors')} {bad}")
    docs, text = render(values)
    manifests = os.path.join(work, f"{name}.yaml")
    with open(manifests, "w") as f:
        f.write(text)
    if name == "per-repository":
        with open(os.path.join(work, "rendered-per-repository.yaml"), "w") as f:
            f.write(text)
    for v in versions:
        r = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "kubernetes-validate"),
             "--strict", "--quiet", "-k", v, manifests],
            capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"helm-test: kubernetes-validate --strict -k {v} {example}:\n{r.stdout}{r.stderr}")
    kinds = sorted({d["kind"] for _, d in docs})
    cronjobs = [d for _, d in docs if d["kind"] == "CronJob"]
    for cj in cronjobs:
        pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        c = pod["containers"][0]["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] and c["readOnlyRootFilesystem"], cj["metadata"]["name"]
        assert c["capabilities"]["drop"] == ["ALL"] and c["allowPrivilegeEscalation"] is False
        assert cj["spec"]["concurrencyPolicy"] == "Forbid" and cj["spec"]["startingDeadlineSeconds"] > 0
    # The profile of the ConfigMap, checked by restic-verify itself.
    [profile] = [d["data"]["config.toml"] for _, d in docs if d["kind"] == "ConfigMap"]
    secrets = os.path.join(work, name, "secrets")
    for r in values["repositories"]:
        os.makedirs(os.path.join(secrets, r["name"]), exist_ok=True)
        with open(os.path.join(secrets, r["name"], "password"), "w") as f:
            f.write("stand-in\n")
        os.chmod(os.path.join(secrets, r["name"], "password"), 0o600)
        with open(os.path.join(secrets, r["name"], "env"), "w") as f:
            f.write("AWS_ACCESS_KEY_ID=stand-in\n")
    config = os.path.join(work, name, "config.toml")
    with open(config, "w") as f:
        f.write(profile.replace("/run/secrets/restic-verify/", secrets + "/"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC")}
    r = subprocess.run([binary, "validate", "--config", config], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"helm-test: restic-verify validate of {example}'s profile:\n{r.stderr}")
    n = int(values.get("shards", 0))
    if n > 0:
        seen = {}
        for k in range(1, n + 1):
            r = subprocess.run([binary, "--json", "validate", "--config", config, "--shard", f"{k}/{n}"],
                               capture_output=True, text=True, env=env, check=True)
            for repo in json.loads(r.stdout)["repositories"]:
                assert repo["name"] not in seen, f"{repo['name']} in shards {seen[repo['name']]} and {k}"
                seen[repo["name"]] = k
        assert sorted(seen) == sorted(r["name"] for r in values["repositories"]), seen
        assert len(cronjobs) == n * len(values["jobs"]), len(cronjobs)
    print(f"helm-test: {name}: {len(docs)} manifests ({', '.join(kinds)}), {len(cronjobs)} CronJobs; "
          f"lint, kubernetes {versions[0]}-{versions[-1]} --strict and restic-verify validate ok")

# Bad values fail with a message naming the value.
base = yaml.safe_load(open(os.path.join(chart_dir, "examples", "per-repository.yaml")))
for change, want in [
    (lambda v: v["repositories"][0].update(name="App_Data"), 'repository name "App_Data"'),
    (lambda v: v["jobs"][0].update(schedule="@fortnightly-random"), "@fortnightly-random"),
    (lambda v: v["jobs"][0].update(kind="prune"), 'kind "prune"'),
    (lambda v: v["repositories"][1].pop("passwordSecret"), "has no passwordSecret"),
]:
    values = json.loads(json.dumps(base))
    change(values)
    try:
        render(values)
    except helm.HelmError as e:
        assert want in str(e), f"{want!r} not in {e}"
    else:
        sys.exit(f"helm-test: values that should fail rendered ({want})")
print("helm-test: bad values are refused with their names")

# Long release and job names with many shards: CronJob names stay distinct and within
# Kubernetes' 52 characters.
values = yaml.safe_load(open(os.path.join(chart_dir, "examples", "sharded.yaml")))
values["shards"] = 12
values["jobs"][0]["name"] = "checkchecks1"
out = chart.render(values, name="a-very-long-release-name-for-testing-purposes", namespace="x")
names = [d["metadata"]["name"] for p in out for d in yaml.safe_load_all(out[p]) if d and d["kind"] == "CronJob"]
assert len(names) == 24 and len(set(names)) == 24 and max(map(len, names)) <= 52, names
print("helm-test: long names are shortened to distinct CronJob names")
EOF

rendered=$work/rendered-per-repository.yaml
{
  echo "# The Helm chart deploy/helm/restic-verify rendered with examples/per-repository.yaml"
  echo "# (release rv, namespace backup). Generated by scripts/helm-test.sh --update; the test"
  echo "# fails when the chart and this file disagree."
  cat "$rendered"
} >"$work/doc.yaml"
if [ "$update" = 1 ]; then
  cp "$work/doc.yaml" docs/kubernetes-rendered.yaml
  echo "helm-test: wrote docs/kubernetes-rendered.yaml"
elif ! diff -u docs/kubernetes-rendered.yaml "$work/doc.yaml" >"$work/diff"; then
  head -40 "$work/diff" >&2
  echo "helm-test: docs/kubernetes-rendered.yaml is not the chart's render; run scripts/helm-test.sh --update" >&2
  exit 1
fi
echo "helm-test: ok"
