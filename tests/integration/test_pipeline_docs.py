"""The pasteable examples of docs/pipelines.md (issue 16): they parse, and
they follow the rules the doc itself states.

No GitHub, Kubernetes or AWS here, so the examples cannot run; what can be
checked offline is checked on every fenced block of the file:

- yaml and json blocks parse (python3-yaml, json); python compiles; sh
  blocks pass `sh -n` (dash, the /bin/sh of the image) and shellcheck;
- GitHub Actions workflows: only keys GitHub knows at each level, each step
  either `uses` or `run`, `needs` and `steps.X.outputs` name what exists,
  every `run` script passes `bash -n` and shellcheck, and no `run` script
  contains a `${{ }}` expression (script injection: inputs and outputs go
  through `env:`);
- Kubernetes Jobs: a container whose command is a shell runs it behind
  `tini -g` with the signal ignored by the script (PID 1 rule), nothing
  Argo substitutes (`{{args.x}}`) inside a script, podFailurePolicy only
  with restartPolicy Never and never retrying exit 1 or 2;
- the ECS task definition: only RegisterTaskDefinition's key names, a
  taskRoleArn whenever an EFS volume uses IAM authorization, mount points
  naming declared volumes; the IAM policy grants ClientMount and
  ClientWrite;
- the deploy workflow's jq filter, run on a status document, accepts an id
  written `0001`.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.S | re.M)


def blocks(lang):
    out = []
    for m in FENCE.finditer(DOC.read_text()):
        if m.group(2) == lang:
            indent = len(m.group(1))
            text = "\n".join(line[indent:] for line in m.group(3).splitlines()) + "\n"
            line = DOC.read_text()[:m.start()].count("\n") + 1
            out.append((line, text))
    return out


def yaml_docs():
    docs = []
    for line, text in blocks("yaml"):
        for d in yaml.safe_load_all(text):
            if d is not None:
                docs.append((line, d))
    return docs


def test_the_doc_has_the_examples_this_file_checks():
    assert len(blocks("yaml")) >= 12
    assert len(blocks("json")) >= 2
    assert len(blocks("sh")) >= 5
    assert len(blocks("python")) == 1
    assert len(workflows()) == 4
    assert len(k8s("Job")) >= 2


def test_yaml_blocks_parse():
    for line, text in blocks("yaml"):
        try:
            list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            pytest.fail(f"docs/pipelines.md:{line}: yaml does not parse: {e}")


def test_json_blocks_parse():
    for line, text in blocks("json"):
        try:
            json.loads(text)
        except ValueError as e:
            pytest.fail(f"docs/pipelines.md:{line}: json does not parse: {e}")


def test_python_compiles():
    for line, text in blocks("python"):
        compile(text, f"docs/pipelines.md:{line}", "exec")


def shell_ok(script, shell, where):
    r = subprocess.run([shell, "-n"], input=script, text=True, capture_output=True)
    assert r.returncode == 0, f"{where}: {shell} -n: {r.stderr}"
    sc = shutil.which("shellcheck")
    assert sc, "shellcheck not found: apt-get install -y shellcheck"
    dialect = "sh" if shell.endswith("/sh") else "bash"
    r = subprocess.run([sc, "-s", dialect, "-S", "warning", "-"], input=script,
                       text=True, capture_output=True)
    assert r.returncode == 0, f"{where}: shellcheck:\n{r.stdout}"


def test_sh_blocks_are_valid_sh():
    for line, text in blocks("sh"):
        shell_ok(text, "/bin/sh", f"docs/pipelines.md:{line}")


# ---- GitHub Actions ----------------------------------------------------------

WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults",
                 "concurrency", "jobs"}
JOB_KEYS = {"name", "permissions", "needs", "if", "runs-on", "environment",
            "concurrency", "outputs", "env", "defaults", "steps",
            "timeout-minutes", "strategy", "continue-on-error", "container",
            "services"}
STEP_KEYS = {"id", "if", "name", "uses", "run", "shell", "with", "env",
             "working-directory", "continue-on-error", "timeout-minutes"}


def workflows():
    out = []
    for line, d in yaml_docs():
        if isinstance(d, dict) and "jobs" in d:
            # YAML 1.1 reads the key `on` as true
            if True in d:
                d["on"] = d.pop(True)
            out.append((line, d))
    return out


def test_workflows_use_known_keys_and_references():
    for line, wf in workflows():
        where = f"docs/pipelines.md:{line}"
        assert set(wf) <= WORKFLOW_KEYS, (where, set(wf) - WORKFLOW_KEYS)
        assert "on" in wf, where
        for name, job in wf["jobs"].items():
            assert set(job) <= JOB_KEYS, (where, name, set(job) - JOB_KEYS)
            assert "runs-on" in job and job["steps"], (where, name)
            needs = job.get("needs", [])
            for n in [needs] if isinstance(needs, str) else needs:
                assert n in wf["jobs"], (where, name, "needs", n)
            ids = {s["id"] for s in job["steps"] if "id" in s}
            for s in job["steps"]:
                assert set(s) <= STEP_KEYS, (where, name, set(s) - STEP_KEYS)
                assert ("uses" in s) != ("run" in s), (where, name, s)
            text = json.dumps(job)
            for ref in re.findall(r"steps\.([\w-]+)\.outputs", text):
                assert ref in ids, (where, name, "no step with id", ref)
            for ref in re.findall(r"needs\.([\w-]+)\.outputs", text):
                assert ref in wf["jobs"] and ref in needs, (where, name, ref)


def test_workflow_scripts_take_no_expressions_and_pass_bash_n():
    """Script injection: `${{ }}` inside `run` is pasted into the script
    before the shell sees it; values go through `env:` as data."""
    for line, wf in workflows():
        for name, job in wf["jobs"].items():
            for i, s in enumerate(job["steps"]):
                if "run" not in s:
                    continue
                where = f"docs/pipelines.md:{line} job {name} step {i + 1}"
                assert "${{" not in s["run"], f"{where}: expression inside run: {s['run']}"
                shell_ok(s["run"], "/bin/bash", where)


def test_workflows_with_pipes_run_with_pipefail():
    """GitHub's default shell is `bash -e {0}`: without `shell: bash`
    (-o pipefail), `migrate ... | jq` succeeds when migrate fails."""
    for line, wf in workflows():
        piped = any("|" in s.get("run", "").replace("||", "")
                    for job in wf["jobs"].values() for s in job["steps"])
        if piped and "migrate" in json.dumps(wf):
            shell = wf.get("defaults", {}).get("run", {}).get("shell")
            assert shell == "bash", f"docs/pipelines.md:{line}: pipes without pipefail"


def test_the_deploy_jq_filter_takes_an_id_with_leading_zeros():
    doc = DOC.read_text()
    m = re.search(r"jq -r --arg v \"\$requires\" \\\n\s*'([^']*)'", doc)
    assert m, "the deploy workflow's jq filter (with --arg v) is not in the doc"
    status = {"migrations": [
        {"id": 1, "phase": "switched"}, {"id": 2, "phase": "expanded"},
        {"id": 3, "phase": "pending"}, {"id": 4, "phase": "pending"}]}
    for requires in ("0003", "3"):
        r = subprocess.run(["jq", "-r", "--arg", "v", requires, m.group(1)],
                           input=json.dumps(status), text=True, capture_output=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["2", "3"], (requires, r.stdout)


# ---- Kubernetes ----------------------------------------------------------------

def k8s(kind):
    return [(line, d) for line, d in yaml_docs()
            if isinstance(d, dict) and d.get("kind") == kind]


def job_specs():
    """Every Job spec: Jobs, and the jobs of Argo AnalysisTemplates."""
    out = [(f"Job {d['metadata']['name']}", d["spec"]) for _, d in k8s("Job")]
    for _, d in k8s("AnalysisTemplate"):
        for metric in d["spec"]["metrics"]:
            out.append((f"AnalysisTemplate {d['metadata']['name']}",
                        metric["provider"]["job"]["spec"]))
    return out


SHELLS = {"/bin/sh", "sh", "/bin/bash", "bash"}


def test_job_scripts_run_behind_tini_and_ignore_the_signal():
    seen = 0
    for where, spec in job_specs():
        for c in spec["template"]["spec"]["containers"]:
            cmd = c.get("command", [])
            if not any(part in SHELLS for part in cmd):
                continue
            seen += 1
            assert cmd[:3] == ["/usr/bin/tini", "-g", "--"], (where, cmd)
            script = c["args"][0]
            assert script.startswith("trap '' TERM INT\n"), (where, script)
            assert "{{" not in script, (where, "Argo substitution inside a script")
            shell_ok(script, "/bin/sh", where)
    assert seen >= 2


def test_job_retries_only_what_a_retry_can_fix():
    for where, spec in job_specs():
        policy = spec.get("podFailurePolicy")
        if spec.get("backoffLimit", 6) == 0:
            continue
        assert policy, (where, "retries without a podFailurePolicy would rerun exit 1 and 2")
        assert spec["template"]["spec"]["restartPolicy"] == "Never", where
        fail = [r for r in policy["rules"] if r["action"] == "FailJob"]
        assert any(set(r["onExitCodes"]["values"]) >= {1, 2} and r["onExitCodes"]["operator"] == "In"
                   for r in fail), where


# ---- AWS -----------------------------------------------------------------------

TASK_DEF_KEYS = {"family", "taskRoleArn", "executionRoleArn", "networkMode",
                 "containerDefinitions", "volumes", "placementConstraints",
                 "requiresCompatibilities", "cpu", "memory", "tags", "pidMode",
                 "ipcMode", "proxyConfiguration", "inferenceAccelerators",
                 "ephemeralStorage", "runtimePlatform"}
CONTAINER_KEYS = {"name", "image", "repositoryCredentials", "cpu", "memory",
                  "memoryReservation", "links", "portMappings", "essential",
                  "entryPoint", "command", "environment", "environmentFiles",
                  "mountPoints", "volumesFrom", "linuxParameters", "secrets",
                  "dependsOn", "startTimeout", "stopTimeout", "hostname", "user",
                  "workingDirectory", "disableNetworking", "privileged",
                  "readonlyRootFilesystem", "dnsServers", "dnsSearchDomains",
                  "extraHosts", "dockerSecurityOptions", "interactive",
                  "pseudoTerminal", "dockerLabels", "ulimits",
                  "logConfiguration", "healthCheck", "systemControls",
                  "resourceRequirements", "firelensConfiguration"}
EFS_KEYS = {"fileSystemId", "rootDirectory", "transitEncryption",
            "transitEncryptionPort", "authorizationConfig"}


def json_docs():
    return [json.loads(text) for _, text in blocks("json")]


def test_ecs_task_definition():
    tds = [d for d in json_docs() if "containerDefinitions" in d]
    assert len(tds) == 1
    td = tds[0]
    assert set(td) <= TASK_DEF_KEYS, set(td) - TASK_DEF_KEYS
    volumes = {v["name"]: v for v in td.get("volumes", [])}
    for c in td["containerDefinitions"]:
        assert set(c) <= CONTAINER_KEYS, set(c) - CONTAINER_KEYS
        for mp in c.get("mountPoints", []):
            assert mp["sourceVolume"] in volumes, mp
        # Fargate allows at most 120 s between SIGTERM and SIGKILL
        assert 2 <= c.get("stopTimeout", 30) <= 120
    for v in volumes.values():
        efs = v.get("efsVolumeConfiguration")
        if not efs:
            continue
        assert set(efs) <= EFS_KEYS, set(efs) - EFS_KEYS
        if efs.get("authorizationConfig", {}).get("iam") == "ENABLED":
            assert efs.get("transitEncryption") == "ENABLED", "EFS IAM authorization needs transit encryption"
            assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", td.get("taskRoleArn", "")), \
                "EFS with IAM authorization mounts as the task role: taskRoleArn is missing"


def test_the_task_role_policy_allows_mount_and_write():
    policies = [d for d in json_docs() if "Statement" in d]
    assert len(policies) == 1
    p = policies[0]
    assert p["Version"] == "2012-10-17"
    actions = set()
    for st in p["Statement"]:
        assert st["Effect"] == "Allow"
        assert st["Resource"].startswith("arn:aws:elasticfilesystem:")
        actions |= set(st["Action"])
    assert {"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"} <= actions
