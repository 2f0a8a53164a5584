"""The JSON Schemas of the file formats (issue 14, item 7), checked against
the loader: docs/schema/migration.schema.json (migration files) and
docs/schema/config.schema.json (migrate.yaml). No server is started.

Editors read YAML through the YAML language server, which resolves plain
scalars by YAML 1.2's core schema (`yes` is a string, `true` a boolean,
`0` an integer); the files are read here the same way (Yaml12Loader), not
with PyYAML's YAML 1.1 rules.

- the schemas are valid draft-07 schemas, and the examples they carry
  validate;
- every example and valid fixture validates; every invalid fixture fails,
  except those in SCHEMA_CANNOT_SEE, each with the reason;
- the loader is the oracle: for every migration file of the repository
  (examples, unit fixtures, operation cases, plan snapshot cases, lint
  cases) and for the edge cases below, `migrate check --offline` and the
  schema agree on whether the file is valid, except SCHEMA_CANNOT_SEE;
- every operation, key, required key and closed set of words of the
  loader's tables (src/migration_keys.c, src/migration_tables.c,
  src/migration_ops.c, src/config.c) is in the schema, read from the C
  sources, so that a new key cannot be forgotten.
"""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "docs" / "schema"
SRC = ROOT / "src"
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "migration"
FILE_FORMAT = ROOT / "docs" / "file-format.md"


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core schema resolution (what the
    YAML language server and libyaml-based migrate see): booleans are
    true/false only, no sexagesimal ints, no timestamps; duplicate keys are
    refused as the language server refuses them."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _rx, _first in [
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                  r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$", "-+0123456789."),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])]:
    Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_rx),
                                       list(_first))


def load_schema(name):
    return json.loads((SCHEMA_DIR / name).read_text())


MIGRATION_SCHEMA = load_schema("migration.schema.json")
CONFIG_SCHEMA = load_schema("config.schema.json")
MIGRATION = jsonschema.Draft7Validator(MIGRATION_SCHEMA)
CONFIG = jsonschema.Draft7Validator(CONFIG_SCHEMA)
DEFS = MIGRATION_SCHEMA["definitions"]


def read_documents(text):
    """The YAML documents of a file (an empty file is one null document),
    or the YAML error as a string."""
    try:
        docs = list(yaml.load_all(text, Loader=Yaml12Loader))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        return None, str(e).splitlines()[0]
    return docs or [None], None


def schema_errors(validator, text):
    """The schema's verdict on a file: [] when valid, else what is wrong
    (YAML errors included: the editor reports them as well)."""
    docs, yaml_error = read_documents(text)
    if yaml_error:
        return [f"YAML: {yaml_error}"]
    errors = []
    for doc in docs:
        for e in validator.iter_errors(doc):
            where = "/".join(map(str, e.absolute_path)) or "(top)"
            errors.append(f"{where}: {e.message[:160]}")
    return errors


def read_bytes(path):
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return e   # read_documents reports it


def file_errors(validator, path):
    text = read_bytes(path)
    if isinstance(text, UnicodeDecodeError):
        return [f"YAML: {text}"]
    return schema_errors(validator, text)


# ---- what a schema cannot express -------------------------------------------

# invalid fixtures (and other repository files) that the loader refuses and
# the schema accepts, relative to the repository, with the reason.
SCHEMA_CANNOT_SEE = {
    "tests/unit/fixtures/migration/invalid/0011_rename_to_itself.yaml":
        "'to' must differ from 'from': JSON Schema draft-07 cannot compare two values",
    "tests/unit/fixtures/migration/invalid/0012_alter_same_name.yaml":
        "'to' must differ from 'column': JSON Schema draft-07 cannot compare two values",
    "tests/snapshots/cases/create_table_duplicate_column/0001_t.yaml":
        "two columns of one name: JSON Schema cannot compare the items of a sequence "
        "(uniqueItems compares whole columns, and the loader compares names without case)",
    "tests/snapshots/cases/error_rules_references_count/0001_fk.yaml":
        "as many referenced columns as columns: JSON Schema cannot compare two lengths",
    "tests/unit/fixtures/migration/invalid/0021_two_documents.yaml":
        "one YAML document per file: the language server validates each document "
        "of a stream on its own, and each one here is valid",
}

# the loader refuses them too, for a reason the schema reports as a YAML
# error (the language server's parser does the same), not as a schema error
YAML_LEVEL = {
    "tests/unit/fixtures/migration/invalid/0006_syntax_error.yaml": "an unclosed quote",
    "tests/unit/fixtures/migration/invalid/0013_duplicate_key.yaml": "a duplicate key",
    "tests/unit/fixtures/migration/invalid/0029_invalid_utf8.yaml": "bytes that are not UTF-8",
}


def rel(path):
    return str(Path(path).resolve().relative_to(ROOT))


# ---- the files of the repository ----------------------------------------------

def migration_files():
    """Every migration file of the repository (not migrate.yaml)."""
    patterns = ["migrations-examples/migrations/*.y*ml",
                "tests/unit/fixtures/migration/*/*.y*ml",
                "tests/operations/*/migrations/*.y*ml",
                "tests/snapshots/cases/*/*.y*ml",
                "tests/lint/cases/*/*.y*ml"]
    files = set()
    for pattern in patterns:
        files.update(p for p in ROOT.glob(pattern)
                     if p.name != "migrate.yaml" and not p.name.startswith("."))
    return sorted(files)


def config_files():
    """Every migrate.yaml of the repository (not of build trees, which may
    hold an older release's sources)."""
    files = list(ROOT.glob("migrations-examples/**/migrate.yaml"))
    files += ROOT.glob("tests/**/migrate.yaml")
    files += ROOT.glob("docs/**/migrate.yaml")
    return sorted(files)


def ids(paths):
    return [rel(p) for p in paths]


# ---- the schemas themselves ---------------------------------------------------

@pytest.mark.parametrize("name", ["migration.schema.json", "config.schema.json"])
def test_schema_is_a_valid_draft7_schema(name):
    schema = load_schema(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


def walk(node, path=""):
    """Every (path, subschema) of a schema."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def test_the_examples_in_the_schema_validate():
    """What an editor offers as an example must be valid where it is offered."""
    checked = 0
    for path, node in walk(MIGRATION_SCHEMA):
        if "/examples/" in path or "examples" not in node or not isinstance(node["examples"], list):
            continue
        sub = dict(node, definitions=DEFS)
        sub.pop("examples")
        v = jsonschema.Draft7Validator(sub)
        for example in node["examples"]:
            assert not list(v.iter_errors(example)), f"{path}: {example!r}"
            checked += 1
    assert checked >= 40


def test_every_operation_has_a_description_linking_its_section():
    anchors = markdown_anchors(FILE_FORMAT)
    for name, ref in DEFS["operation"]["properties"].items():
        op = resolve(ref)
        assert f"docs/file-format.md#{name}" in op["description"], name
        links = re.findall(r"docs/file-format\.md#([\w-]+)", op["markdownDescription"])
        assert links and all(a in anchors for a in links), (name, links)


def test_every_key_has_a_description():
    """Editors show it on hover."""
    missing = []
    for path, node in walk(MIGRATION_SCHEMA):
        props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        if path.endswith("/if") or "/if/" in path or "/then" in path or "/else" in path:
            continue
        for key, sub in props.items():
            if not (sub.get("description") or resolve(sub).get("description")):
                missing.append(f"{path}/properties/{key}")
    assert not missing, missing


def test_every_link_to_the_docs_names_a_section_that_exists():
    anchors = markdown_anchors(FILE_FORMAT)
    text = json.dumps(MIGRATION_SCHEMA)
    links = set(re.findall(r"docs/file-format\.md#([\w-]+)", text))
    assert len(links) >= 21
    assert links <= anchors, links - anchors
    commands = markdown_anchors(ROOT / "docs" / "commands.md")
    for anchor in re.findall(r"docs/commands\.md#([\w-]+)", json.dumps(CONFIG_SCHEMA)):
        assert anchor in commands, anchor


def markdown_anchors(path):
    """GitHub's anchors of a Markdown file's headings."""
    anchors = set()
    for line in path.read_text().splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            title = m.group(1).strip().lower()
            title = re.sub(r"[^\w\- ]", "", title)
            anchors.add(title.replace(" ", "-"))
    return anchors


def resolve(node):
    """A subschema with its $ref (or single allOf $ref) followed."""
    if "$ref" in node:
        return DEFS[node["$ref"].rsplit("/", 1)[1]]
    if len(node.get("allOf", [])) == 1 and "$ref" in node["allOf"][0]:
        return resolve(node["allOf"][0])
    return node


# ---- valid and invalid fixtures -------------------------------------------------

VALID_FILES = sorted(list(ROOT.glob("migrations-examples/migrations/*.y*ml"))
                     + list(FIXTURES.glob("valid/*.y*ml"))
                     + [p for p in FIXTURES.glob("set/[0-9]*.y*ml")])
INVALID_FILES = sorted(FIXTURES.glob("invalid/*"))


def test_the_fixture_sets_are_there():
    assert len(VALID_FILES) >= 15 and len(INVALID_FILES) >= 31


@pytest.mark.parametrize("path", VALID_FILES, ids=ids(VALID_FILES))
def test_valid_file_validates(path):
    assert file_errors(MIGRATION, path) == []


@pytest.mark.parametrize("path", INVALID_FILES, ids=ids(INVALID_FILES))
def test_invalid_fixture_fails(path):
    errors = file_errors(MIGRATION, path)
    if rel(path) in SCHEMA_CANNOT_SEE:
        assert errors == [], f"the schema sees it now: drop it from SCHEMA_CANNOT_SEE ({errors})"
    elif rel(path) in YAML_LEVEL:
        assert len(errors) == 1 and errors[0].startswith("YAML: "), errors
    else:
        assert errors and not errors[0].startswith("YAML: "), errors


def test_the_allow_lists_name_files_that_exist():
    for name in list(SCHEMA_CANNOT_SEE) + list(YAML_LEVEL):
        assert (ROOT / name).is_file(), name


# ---- the loader as the oracle -----------------------------------------------------

def run_loader(migrate_bin, base, data, config=None):
    """(ok, message): `migrate check --offline --no-lint` on data as the only
    migration of a fresh directory, with config as its settings file."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("MIGRATE_", "PG", "MYSQL")) or k == "DATABASE_URL")}
    env["NO_COLOR"] = "1"
    work = Path(tempfile.mkdtemp(dir=base))
    try:
        (work / "m").mkdir()
        (work / "m" / "0001_case.yaml").write_bytes(
            data if isinstance(data, bytes) else data.encode())
        # the loader only: lint's findings (check runs lint) are not the question
        args = [migrate_bin, "check", "--offline", "--no-lint", "--migrations", "m"]
        if config is not None:
            (work / "settings.yaml").write_text(config)
            args += ["--config", "settings.yaml"]
        p = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(work)
    assert p.returncode in (0, 2), f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.returncode == 0, p.stderr.strip()


@pytest.fixture(scope="module")
def loader(migrate_bin, tmp_path_factory):
    """loader(data, config=None) -> (ok, message), the loader's verdict.
    Every file and case of this module is run once, four at a time (the
    binary mostly waits on process start-up), on first use."""
    base = tmp_path_factory.mktemp("oracle")
    inputs = [(p.read_bytes(), None) for p in migration_files()]
    inputs += [(text.encode(), None) for text in EDGE_CASES.values()]
    inputs += [(text.encode(), None) for text, _ in SCHEMA_STRICTER.values() if text]
    inputs += [(CONFIG_MIGRATION.encode(), text) for text in CONFIG_CASES.values()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = dict(zip(inputs, pool.map(
            lambda i: run_loader(migrate_bin, base, *i), inputs)))

    def verdict(data, config=None):
        key = (data if isinstance(data, bytes) else data.encode(), config)
        if key not in verdicts:
            verdicts[key] = run_loader(migrate_bin, base, *key)
        return verdicts[key]
    return verdict


ALL_FILES = migration_files()


def test_the_oracle_sees_enough_files():
    assert len(ALL_FILES) >= 200


@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_schema_agrees_with_the_loader(loader, path):
    ok, message = loader(path.read_bytes())
    errors = file_errors(MIGRATION, path)
    if rel(path) in SCHEMA_CANNOT_SEE:
        assert not ok and not errors, (message, errors)
    elif ok:
        assert errors == [], f"the loader accepts it, the schema does not: {errors}"
    else:
        assert errors, f"the loader refuses it ({message}), the schema accepts it"


def op_file(op, body):
    lines = [f"      {line}" for line in body.strip("\n").splitlines()]
    return f"operations:\n  - {op}:\n" + "\n".join(lines) + "\n"


# Edge cases of the loader's rules: each is a file, whose verdict the loader
# gives and the schema must share.
EDGE_CASES = {
    "default_number": op_file("add_column", "table: t\ncolumn: c\ntype: int\ndefault: 0"),
    "default_bool": op_file("add_column", "table: t\ncolumn: c\ntype: boolean\ndefault: false"),
    "default_tilde": op_file("add_column", "table: t\ncolumn: c\ntype: int\ndefault: ~"),
    "default_blank": op_file("add_column", "table: t\ncolumn: c\ntype: int\ndefault: '  '"),
    "default_sequence": op_file("add_column", "table: t\ncolumn: c\ntype: int\ndefault: [1]"),
    "not_null_with_default": op_file("add_column", "table: t\ncolumn: c\ntype: int\nnullable: false\ndefault: '1'"),
    "not_null_with_backfill": op_file("add_column", "table: t\ncolumn: c\ntype: int\nnullable: false\nbackfill: id"),
    "not_null_alone": op_file("add_column", "table: t\ncolumn: c\ntype: int\nnullable: false"),
    "nullable_yes": op_file("add_column", "table: t\ncolumn: c\ntype: int\nnullable: yes"),
    "nullable_TRUE": op_file("add_column", "table: t\ncolumn: c\ntype: int\nnullable: TRUE"),
    "nullable_quoted": op_file("add_column", "table: t\ncolumn: c\ntype: int\nnullable: 'false'"),
    "allow_copy_everywhere": op_file("drop_index", "table: t\nname: i\nallow_copy: true\nallow_rebuild: false"),
    "name_63": op_file("drop_column", "table: t\ncolumn: " + "c" * 63),
    "name_64": op_file("drop_column", "table: t\ncolumn: " + "c" * 64),
    "table_schema": op_file("drop_column", "table: s.t\ncolumn: c"),
    "table_two_dots": op_file("drop_column", "table: a.b.c\ncolumn: c"),
    "table_leading_dot": op_file("drop_column", "table: .t\ncolumn: c"),
    "table_trailing_dot": op_file("drop_column", "table: s.\ncolumn: c"),
    "table_part_64": op_file("drop_column", "table: s." + "t" * 64 + "\ncolumn: c"),
    "drops_empty": op_file("drop_column", "table: t\ncolumn: c\ndrops:"),
    "drops_list": op_file("drop_column", "table: t\ncolumn: c\ndrops: [v, w]"),
    "drops_scalar": op_file("drop_column", "table: t\ncolumn: c\ndrops: v"),
    "drops_item_mapping": op_file("drop_column", "table: t\ncolumn: c\ndrops: [{a: b}]"),
    "alter_to_without_down": op_file("alter_column", "table: t\ncolumn: a\nto: b\ntype: int\nup: a"),
    "alter_in_place": op_file("alter_column", "table: t\ncolumn: a\ntype: bigint"),
    "alter_in_place_up": op_file("alter_column", "table: t\ncolumn: a\ntype: bigint\nup: a + 1"),
    "alter_in_place_down": op_file("alter_column", "table: t\ncolumn: a\ntype: bigint\ndown: a"),
    "sql_rollback_only": op_file("sql", "rollback: SELECT 1"),
    "sql_switch_reads": op_file("sql", "switch_reads: SELECT 1\nin_transaction: false"),
    "sql_empty": op_file("sql", "in_transaction: true"),
    "sql_unknown_phase": op_file("sql", "expand: SELECT 1\nup: SELECT 2"),
    "identity_full": op_file("set_replica_identity", "table: t\nidentity: full"),
    "identity_index": op_file("set_replica_identity", "table: t\nidentity: index\nindex: i"),
    "identity_index_missing": op_file("set_replica_identity", "table: t\nidentity: index"),
    "identity_full_with_index": op_file("set_replica_identity", "table: t\nidentity: full\nindex: i"),
    "identity_upper": op_file("set_replica_identity", "table: t\nidentity: FULL"),
    "fk_actions_words": op_file("add_foreign_key", "table: t\ncolumns: [a]\nname: f\nreferences: {table: p, columns: [id]}\non_delete: Set Null\non_update: NO_ACTION"),
    "fk_action_set_default": op_file("add_foreign_key", "table: t\ncolumns: [a]\nname: f\nreferences: {table: p, columns: [id]}\non_delete: set_default"),
    "fk_action_unknown": op_file("add_foreign_key", "table: t\ncolumns: [a]\nname: f\nreferences: {table: p, columns: [id]}\non_delete: setnull"),
    "fk_references_extra": op_file("add_foreign_key", "table: t\ncolumns: [a]\nname: f\nreferences: {table: p, columns: [id], name: x}"),
    "fk_references_missing": op_file("add_foreign_key", "table: t\ncolumns: [a]\nname: f\nreferences: {table: p}"),
    "fk_without_name": op_file("add_foreign_key", "table: t\ncolumns: [a]\nreferences: {table: p, columns: [id]}"),
    "index_options": op_file("create_index", "table: t\nname: i\ncolumns: [a, {name: b, order: desc, nulls: first, opclass: x, collate: C}]\ninclude: [c]\nstorage: {fillfactor: 70, deduplicate_items: off}\nmethod: gist"),
    "index_order_upper": op_file("create_index", "table: t\nname: i\ncolumns: [{name: b, order: DESC}]"),
    "index_col_without_name": op_file("create_index", "table: t\nname: i\ncolumns: [{order: desc}]"),
    "index_storage_empty": op_file("create_index", "table: t\nname: i\ncolumns: [a]\nstorage: {}"),
    "index_storage_bad_name": op_file("create_index", "table: t\nname: i\ncolumns: [a]\nstorage: {FillFactor: 70}"),
    "index_storage_null": op_file("create_index", "table: t\nname: i\ncolumns: [a]\nstorage: {fillfactor: ~}"),
    "index_constraint_unique": op_file("create_index", "table: t\nname: i\ncolumns: [a]\nunique: true\nconstraint: true"),
    "index_constraint_alone": op_file("create_index", "table: t\nname: i\ncolumns: [a]\nconstraint: true"),
    "index_constraint_false": op_file("create_index", "table: t\nname: i\ncolumns: [a]\nconstraint: false"),
    "index_include_empty": op_file("create_index", "table: t\nname: i\ncolumns: [a]\ninclude:"),
    "rename_table_schema": op_file("rename_table", "table: s.t\nto: s.u"),
    "rename_table": op_file("rename_table", "table: s.t\nto: u"),
    "set_comment_table": op_file("set_comment", "table: t\ncomment: hello"),
    "set_comment_empty": op_file("set_comment", "table: t\ncomment: ''"),
    "add_check": op_file("add_check", "table: t\ncolumn: c\nname: k\ncheck: c > 0\nup: '0'"),
    "add_unique_no_up": op_file("add_unique", "table: t\ncolumns: [a, b]\nname: u"),
    "add_unique_empty_columns": op_file("add_unique", "table: t\ncolumns: []\nname: u"),
    "set_not_null_no_up": op_file("set_not_null", "table: t\ncolumn: c"),
    "create_table_full": op_file("create_table", """
table: s.t
comment: a table
columns:
  - {name: id, type: bigint, primary_key: true, identity: always}
  - {name: p, type: bigint, nullable: false, unique: true, check: p > 0, comment: c,
     references: {table: t, column: id, name: fk, on_delete: CASCADE, on_update: restrict}}
  - {name: d, type: int, default: 1}
constraints:
  - unique: {columns: [id, p], name: u}
  - check: {expression: p > 1}
  - foreign_key: {columns: [p], references: {table: s.t, columns: [id]}, name: f2, on_delete: set null}
"""),
    "create_table_constraints_empty": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\nconstraints:"),
    "create_table_no_columns": op_file("create_table", "table: t\ncolumns: []"),
    "create_table_column_unknown_key": op_file("create_table", "table: t\ncolumns: [{name: a, type: int, pk: true}]"),
    "create_table_column_no_type": op_file("create_table", "table: t\ncolumns: [{name: a}]"),
    "create_table_identity_bad": op_file("create_table", "table: t\ncolumns: [{name: a, type: int, identity: auto}]"),
    "create_table_identity_default": op_file("create_table", "table: t\ncolumns: [{name: a, type: int, identity: by_default, default: '1'}]"),
    "create_table_ref_without_column": op_file("create_table", "table: t\ncolumns: [{name: a, type: int, references: {table: p}}]"),
    "create_table_ref_columns": op_file("create_table", "table: t\ncolumns: [{name: a, type: int, references: {table: p, columns: [id]}}]"),
    "create_table_check_with_columns": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\nconstraints: [{check: {expression: a > 0, columns: [a]}}]"),
    "create_table_fk_action_in_references": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\nconstraints: [{foreign_key: {columns: [a], references: {table: p, columns: [id], on_delete: cascade}}}]"),
    "create_table_fk_without_references": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\nconstraints: [{foreign_key: {columns: [a]}}]"),
    "create_table_two_kinds": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\nconstraints: [{unique: {columns: [a]}, check: {expression: a > 0}}]"),
    "create_table_unknown_kind": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\nconstraints: [{exclude: {columns: [a]}}]"),
    "create_table_comment_empty": op_file("create_table", "table: t\ncolumns: [{name: a, type: int}]\ncomment:"),
    "description_empty": "description:\noperations:\n  - drop_index: {table: t, name: i}\n",
    "description_number": "description: 42\noperations:\n  - drop_index: {table: t, name: i}\n",
    "description_mapping": "description: {a: b}\noperations:\n  - drop_index: {table: t, name: i}\n",
    "two_operations_in_one_item": "operations:\n  - drop_index: {table: t, name: i}\n    drop_default: {table: t, column: c}\n",
    "operation_empty_mapping": "operations:\n  - drop_index: {}\n",
    "operations_empty_value": "operations:\n",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_agrees_with_the_loader(loader, name):
    text = EDGE_CASES[name]
    ok, message = loader(text)
    errors = schema_errors(MIGRATION, text)
    if ok:
        assert errors == [], f"the loader accepts it, the schema does not: {errors}"
    else:
        assert errors, f"the loader refuses it ({message}), the schema accepts it"


# Files the loader accepts and the schema refuses, on purpose: what YAML
# reads as null or as a number, the loader (libyaml, no tags) reads as text.
# The schema follows YAML: a `default:` or `default: ~` left empty is the
# common mistake, and `null` cannot be told apart from them in the data.
SCHEMA_STRICTER = {
    "default_null": (op_file("add_column", "table: t\ncolumn: c\ntype: int\ndefault: null"),
                     "write SQL NULL quoted: default: \"NULL\""),
    "up_NULL": (op_file("add_unique", "table: t\ncolumns: [a]\nname: u\nup: NULL"),
                "write SQL NULL quoted: up: \"NULL\""),
    "name_number": (op_file("drop_column", "table: t\ncolumn: 2024"),
                    "a name that YAML reads as a number: quote it"),
    "config_path_number": (None, "a path that YAML reads as a number (migrations: 2024): quote it"),
    "config_path_empty": (None, "an empty path (state: ''): `check --offline` never opens it, "
                                "every other command fails on it"),
}


@pytest.mark.parametrize("name", sorted(k for k, v in SCHEMA_STRICTER.items() if v[0]))
def test_the_schema_is_stricter_only_where_listed(loader, name):
    text, reason = SCHEMA_STRICTER[name]
    ok, message = loader(text)
    assert ok, message
    assert schema_errors(MIGRATION, text), reason


def test_edge_cases_cover_both_verdicts(loader):
    verdicts = [loader(text)[0] for text in EDGE_CASES.values()]
    assert verdicts.count(True) >= 25 and verdicts.count(False) >= 25


# ---- migrate.yaml ---------------------------------------------------------------

CONFIG_MIGRATION = "operations:\n  - drop_index: {table: t, name: i}\n"

CONFIG_CASES = {
    "empty": "",
    "comments_only": "# nothing\n",
    "example": "migrations: migrations\nstate: .migrate/state.db\nlock_timeout: 500\nbatch_size: 500\n",
    "every_number": "".join(f"{k}: 100\n" for k in ["lock_timeout", "statement_timeout",
                                                      "index_timeout", "lock_retries", "max_tx_age",
                                                      "batch_size", "max_rows_per_sec", "sleep",
                                                      "target_batch_ms", "max_lag", "max_load",
                                                      "network_timeout"]) + "jobs: 8\n",
    "quoted_number": "lock_timeout: '500'\n",
    "unknown_key": "lock_timout: 500\n",
    "negative": "lock_timeout: -1\n",
    "word": "lock_timeout: soon\n",
    "fraction": "sleep: 1.5\n",
    "mapping_value": "state: {path: x}\n",
    "jobs_0": "jobs: 0\n",
    "jobs_65": "jobs: 65\n",
    "jobs_64": "jobs: 64\n",
    "batch_size_0": "batch_size: 0\n",
    "target_batch_ms_9": "target_batch_ms: 9\n",
    "network_timeout_99": "network_timeout: 99\n",
    "lock_timeout_0": "lock_timeout: 0\n",
    "too_big": "sleep: 1000000001\n",
    "top_sequence": "- migrations\n",
    "pause_file": "pause_file: /tmp/migrate.pause\nmax_rows_per_sec: 5000000000\n",
    # durations with units (issue 16); bare numbers keep their unit
    "durations": "lock_timeout: 500ms\nstatement_timeout: 1m\nmax_tx_age: 2m\nsleep: 0.25s\n"
                 "network_timeout: 1h30m\ncritical_load_interval: 2s\nmax_lag: 1d\n",
    "duration_bad_unit": "sleep: 5x\n",
    "duration_unit_first": "sleep: ms5\n",
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_config_schema_agrees_with_the_loader(loader, name):
    text = CONFIG_CASES[name]
    ok, message = loader(CONFIG_MIGRATION, config=text)
    errors = schema_errors(CONFIG, text)
    if ok:
        assert errors == [], f"migrate accepts it, the schema does not: {errors}"
    else:
        assert errors, f"migrate refuses it ({message}), the schema accepts it"


@pytest.mark.parametrize("path", config_files(), ids=ids(config_files()))
def test_every_migrate_yaml_validates(path):
    assert file_errors(CONFIG, path) == []


def test_config_keys_match_config_c():
    # the migrate.yaml keys are a column of the option table (issue 16)
    table = (SRC / "cli_options.c").read_text()
    keys = re.findall(r'"MIGRATE_\w+",\s*"(\w+)"', table) + \
        re.findall(r'NULL, "(\w+)", 0, 0, 0', table)
    assert len(keys) >= 17
    text = (SRC / "config.c").read_text()
    # `lint` is a mapping of its own (apply_lint), not a row of the table
    assert 'if (!strcmp(key, "lint"))' in text
    assert set(keys) | {"lint"} == set(CONFIG_SCHEMA["properties"])


# ---- the loader's tables, read from the C sources ---------------------------------

def c_source(name):
    """A C file with its backslash-continued lines joined."""
    return (SRC / name).read_text().replace("\\\n", " ")


def c_macros(text):
    return {m.group(1): m.group(2) for m in re.finditer(r"^#define (\w+) (.*)$", text, re.M)}


def c_string(text, macro):
    """A macro defined as a string literal, possibly in several pieces."""
    value = c_macros(text)[macro]
    return "".join(re.findall(r'"([^"]*)"', value))


def split_list(s):
    return [w.strip() for w in s.split(",") if w.strip()]


FIELD = re.compile(r'\{\s*"(\w+)",\s*F_(\w+),\s*(\d),\s*"[^"]*",\s*([\w()\[\]]+)')


def key_tables():
    """{table name: [(key, ftype, required, off)]} of migration_keys.c."""
    text = c_source("migration_keys.c")
    macros = c_macros(text)
    tables = {}
    for m in re.finditer(r"static const struct field (\w+)_fields\[\] = \{(.*?)\n\};", text, re.S):
        body = m.group(2)
        for name in ("DROPS", "ALLOW_FIELDS", "RULE_NAME"):
            body = re.sub(rf"\b{name}\b", macros[name], body)
        tables[m.group(1)] = [(k, t, int(r), off) for k, t, r, off in FIELD.findall(body)]
    return tables, text


def opdefs():
    tables, text = key_tables()
    ops = re.findall(r"OPDEF\((\w+), MG_OP_\w+\)", text)
    return ops, tables, text


def test_every_operation_of_the_loader_is_in_the_schema():
    ops, _, _ = opdefs()
    assert len(ops) == 21
    assert set(ops) == set(DEFS["operation"]["properties"])
    header = (SRC / "migration_keys.h").read_text().replace("\\\n", " ")
    assert split_list(c_string(header, "OP_NAMES")) == ops
    assert split_list(c_string(header, "TOP_KEYS")) == sorted(MIGRATION_SCHEMA["properties"])
    assert MIGRATION_SCHEMA["required"] == ["operations"]


def kind(schema):
    """What a property's schema accepts, in the loader's terms."""
    s = resolve(schema)
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    if name in ("sql_expression", "sql_type", "sql_statements", "text"):
        return "STR"
    if name == "name":
        return "NAME"
    if name == "table":
        return "TABLE"
    if s.get("type") == "boolean":
        return "BOOL"
    if name == "fk_action":
        return "ACTION"
    t = s.get("type")
    if "array" in (t if isinstance(t, list) else [t]):
        items = s["items"]["$ref"].rsplit("/", 1)[-1]
        if items == "index_column":
            return "INDEX_COLUMNS"
        if items != "name":
            return "ARRAY"
        return "NAMES+" if s.get("minItems") == 1 else "NAMES"
    if s.get("type") == "string" and s.get("enum"):
        return "ENUM"
    if "propertyNames" in s:
        return "PARAMS"
    if t == "object":
        return "MAP"
    return "?"


# what the schema must accept for each field type of migration_keys.h
FTYPE_KINDS = {"STR": {"STR", "ACTION", "ENUM"}, "NAME": {"NAME", "ENUM"}, "TABLE": {"TABLE"},
               "BOOL": {"BOOL"}, "INDEX_COLUMNS": {"INDEX_COLUMNS"},
               "PARAMS": {"PARAMS"}, "MAP": {"MAP"}}


@pytest.mark.parametrize("op", opdefs()[0])
def test_keys_types_and_required_keys_match_migration_keys_c(op):
    _, tables, text = opdefs()
    fields = tables[op]
    schema = DEFS[f"op_{op}"]
    assert schema["additionalProperties"] is False
    assert [f[0] for f in fields] == list(schema["properties"]), "keys (in the C table's order)"
    assert {f[0] for f in fields if f[2]} == set(schema.get("required", [])), "required keys"
    for key, ftype, required, off in fields:
        got = kind(schema["properties"][key])
        if ftype == "NAMES":
            assert got == ("NAMES+" if required else "NAMES"), key
        elif ftype == "TABLEDEF":
            assert got in {"STR", "ARRAY"}, (key, got)
        else:
            assert got in FTYPE_KINDS[ftype], (key, ftype, got)
        if ftype == "MAP":
            sub = re.search(rf"\[{off}\] = \{{ (\w+)_fields", text).group(1)
            sub_schema = resolve(schema["properties"][key])
            assert [f[0] for f in tables[sub]] == list(sub_schema["properties"])
            assert {f[0] for f in tables[sub] if f[2]} == set(sub_schema["required"])
            assert sub_schema["additionalProperties"] is False


def test_on_delete_and_on_update_take_the_loaders_actions():
    ops = c_source("migration_ops.c")
    tables = c_source("migration_tables.c")
    words = split_list(c_string(tables, "ACTIONS"))
    assert words == DEFS["fk_action"]["examples"]
    assert [w.replace("_", " ") for w in words] == split_list(c_string(ops, "FK_ACTIONS"))
    pattern = re.compile(DEFS["fk_action"]["pattern"])
    for w in words:
        for variant in (w, w.upper(), w.replace("_", " "), w.replace("_", " ").title()):
            assert pattern.search(variant), variant
    for wrong in ("setnull", "set__null", "cascade ", "delete", ""):
        assert not pattern.search(wrong), wrong
    for op in ("add_foreign_key",):
        for key in ("on_delete", "on_update"):
            assert kind(DEFS[f"op_{op}"]["properties"][key]) == "ACTION"


def test_closed_sets_of_words_match_the_loader():
    ops = c_source("migration_ops.c")
    identity = re.search(r"check_identity.*?words\[\] = \{ (.*?) \}", ops, re.S).group(1)
    assert re.findall(r'"(\w+)"', identity) == \
        DEFS["op_set_replica_identity"]["properties"]["identity"]["enum"]
    col = DEFS["index_column"]["oneOf"][1]["properties"]
    assert re.findall(r'"(\w+)"', re.search(r"orders\[\] = \{ (.*?) \}", ops).group(1)) == \
        col["order"]["enum"]
    assert re.findall(r'"(\w+)"', re.search(r"nulls\[\] = \{ (.*?) \}", ops).group(1)) == \
        col["nulls"]["enum"]
    assert split_list(c_string(ops, "INDEX_COL_KEYS")) == list(col)
    tables = c_source("migration_tables.c")
    assert re.search(r'mg_walk_unknown\(p, "identity", val,\s*"([^"]*)"', tables).group(1) == \
        ", ".join(DEFS["table_column"]["properties"]["identity"]["enum"])
    header = c_source("migration_keys.h")
    phases = split_list(c_string(header, "SQL_PHASES"))
    assert [a["required"][0] for a in DEFS["op_sql"]["anyOf"]] == phases


def test_create_table_keys_match_migration_tables_c():
    text = c_source("migration_tables.c")
    column = DEFS["table_column"]
    assert split_list(c_string(text, "COLUMN_KEYS")) == list(column["properties"])
    ref = DEFS["column_references"]
    assert split_list(c_string(text, "REF_KEYS")) == list(ref["properties"])
    kinds = DEFS["table_constraint"]["properties"]
    assert split_list(c_string(text, "CONSTRAINT_KINDS")) == list(kinds)
    fk_ref = kinds["foreign_key"]["properties"]["references"]
    assert split_list(c_string(text, "FK_REF_KEYS")) == list(fk_ref["properties"])
    # constraint_keys(): check, foreign key, then primary key and unique
    body = re.search(r"constraint_keys\(enum mg_tcon_kind kind\)\n\{(.*?)\n\}", text, re.S).group(1)
    check, fk, other = [split_list(s) for s in re.findall(r'return "([^"]*)";', body)]
    assert set(check) == set(kinds["check"]["properties"])
    assert set(fk) == set(kinds["foreign_key"]["properties"])
    assert set(other) == set(kinds["primary_key"]["properties"]) == set(kinds["unique"]["properties"])
    # the required keys: the loader's `missing(...)` calls
    for key, where in [("name", column), ("type", column), ("table", ref)]:
        assert re.search(rf'missing\(p, "{key}"', text) and key in where["required"], key
    assert ref["required"] == ["table", "column"] and fk_ref["required"] == ["table", "columns"]
    assert re.search(r'missing\(p, fk \? "columns" : "column", "references"', text)
    assert re.search(r'missing\(p, "expression", kinds\[n\]', text)
    assert kinds["check"]["required"] == ["expression"]
    assert re.search(r'missing\(p, "columns", kinds\[n\]', text)
    assert re.search(r'missing\(p, "references", kinds\[n\]', text)
    assert kinds["foreign_key"]["required"] == ["columns", "references"]
    assert kinds["primary_key"]["required"] == kinds["unique"]["required"] == ["columns"]
    for node in (column, ref, fk_ref, *kinds.values(), DEFS["table_constraint"]):
        assert node["additionalProperties"] is False


# ---- docs/editors.md ------------------------------------------------------------

def test_the_editor_guide_shows_what_works():
    """Its YAML examples validate, its settings parse and name the schemas."""
    text = (ROOT / "docs" / "editors.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    yaml_blocks = [b for lang, b in blocks if lang == "yaml"]
    assert yaml_blocks and all(schema_errors(MIGRATION, b) == [] for b in yaml_blocks)
    assert any(b.startswith("# yaml-language-server: $schema=") for b in yaml_blocks)
    settings = [json.loads(b) for lang, b in blocks if lang == "json"]
    assert settings
    for s in settings:
        for path in s["yaml.schemas"]:
            assert (ROOT / path).is_file(), path
    for name in re.findall(r"docs/schema/([\w.]+\.json)", text):
        assert (SCHEMA_DIR / name).is_file(), name
