"""`saebench run | list`: parse, call, print. Everything else lives in the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from saebench.errors import ConfigError, SaeBenchError, did_you_mean

COMMANDS = ("run", "list", "cache", "gate", "leaderboard", "export", "results", "validity", "sweep")
CONFIG_GROUPS = ("model", "sae", "corpus", "suite", "judge")
USAGE = """usage: saebench <command> [args]

commands:
  run [hydra overrides]   evaluate SAEs (default: the bundled demo; --debug shows tracebacks), e.g.
                          saebench run sae=demo_topk task.core.n_tokens=32768 device=cuda dtype=bfloat16
                          saebench run -m sae=demo_relu,demo_topk
  list [what] [--json]    tasks and metrics, SAE configs (`list saes`), probing datasets and unlearning
                          tasks (`list datasets`), formats, model/corpus/suite configs
  cache ls|clear          activation stores, baseline fits and judge responses on disk, with sizes;
                          `cache clear [KEY ...|--kind K|--all] [--cache-dir D]`
  gate --baseline A --candidate B [--config gate.yaml] [--match sae|l0] [--summary gate.md]
                          fail (exit 1) when the candidate's results are worse than the baseline's
  leaderboard build RESULTS... -o SITE [--validity REPORT]
                          a static site: SAE table, metric-vs-L0 frontiers, a page per SAE
  export saebench-json RESULTS... -o DIR
                          SAEBench-schema JSON per SAE and eval
  validity [hydra overrides]
                          every metric on the bundled model organism's trained SAEs vs random,
                          permuted-decoder and PCA controls (suite=validity sae=orgllama, 5 seeds);
                          writes OUTPUT/report/validity.{md,parquet} and noise.parquet
  sweep plan [hydra overrides] [--job-size N] [--no-judge-pool]
                          group (SAE x task) units into jobs by (model, hook); auto-interp's judge work
                          becomes judge-pool jobs (CPU) unless --no-judge-pool; writes
                          OUTPUT/sweeps/<id>/plan.json with the cost estimate from earlier runs
  sweep run PLAN|[hydra overrides] [executor=local|local_gpus|slurm|ray] [executor.workers=N ...]
                          run a plan's unfinished jobs (planning first when given overrides)
  sweep status PLAN       units done / running / staged / failed / skipped / pending per job, with reasons
  sweep collect PLAN      every planned unit with exactly one result (exit 1 listing those without)
  results check RESULTS... [--repair]
                          list unreadable parts (exit 1), partial units and temp files; --repair moves bad
                          parts to RESULTS/quarantine/ so their units are recomputed by the next run
"""


def main(argv: list[str] | None = None) -> int:
    """Run a command; every error saebench raises is one `error:` line (exit 1). `--debug` (or
    HYDRA_FULL_ERROR=1) shows tracebacks; an unexpected exception is reported as an internal error."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("HYDRA_FULL_ERROR") == "1"
    args = [a for a in args if a != "--debug"]
    if not args:
        args = ["run"]
    command, rest = args[0], args[1:]
    if command in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if command in ("run", "validity") and any(a in ("-h", "--help") for a in rest):
        print(run_help(command))          # saebench's own usage, before hydra or torch is imported
        return 0
    if command in ("run", "validity"):
        _export_threads(rest)
    if command not in COMMANDS:
        print(did_you_mean(command, COMMANDS, "command"), file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 2
    try:
        return {"run": _run, "list": _list, "cache": _cache, "gate": _gate, "leaderboard": _leaderboard,
                "export": _export, "results": _results, "validity": _validity, "sweep": _sweep}[command](rest)
    except SaeBenchError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; completed units are saved and a rerun resumes", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (a bug: one line, the traceback behind --debug)
        if debug:
            raise
        print(f"error: internal error {type(e).__name__}: {e} (rerun with --debug for the traceback, and please "
              "report it)", file=sys.stderr)
        return 1


def run_help(command: str = "run") -> str:
    """`saebench run --help`: the config groups and their options, common overrides, examples."""
    from saebench.paths import config_options

    lines = [f"usage: saebench {command} [-m] [GROUP=OPTION ...] [KEY=VALUE ...]", ""]
    if command == "validity":
        lines += ["Run suite=validity on the bundled model organism (sae=orgllama, 5 seeds: trained SAEs vs random,",
                  "permuted-decoder and PCA controls) and write OUTPUT/report/validity.md; any override below applies.",
                  ""]
    else:
        lines += ["Evaluate SAEs: compose configs/config.yaml with the selections and overrides (hydra syntax), run",
                  "every task of the suite on every SAE, write Parquet under output_dir; a rerun computes only what",
                  "is missing.", ""]
    lines.append("config groups (GROUP=OPTION; `saebench list configs` describes each):")
    for group in CONFIG_GROUPS:
        options = config_options(group)
        top = sorted({o.split("/")[0] + ("/*" if "/" in o else "") for o in options})
        lines.append(f"  {group:<7} " + ", ".join(top))
    lines += [
        "",
        "common overrides:",
        "  device=cpu|cuda|cuda:1  dtype=bfloat16  seed=1  output_dir=results/mine  cache_dir=/scratch/cache",
        "  task.core.n_tokens=500000        a task parameter (`saebench list tasks` lists them)",
        "  ~task.sparse_probing             drop a task of the suite;  +task.autointerp.n_latents=50  add one",
        "  saes=[{id: mine, path: ./my_sae}]  your own SAE folder (SAE Lens, dictionary_learning, ... formats)",
        "  max_saes_per_group=8  force=true  fail_fast=true  threads=4  judge_stage=inline|sample|judge",
        "  -m sae=demo_relu,demo_topk       one run per value (hydra multirun; hydra/launcher=saebench_joblib)",
        "",
        "examples:",
        "  saebench run                                          the demo: bundled model and SAEs, CPU",
        "  saebench run sae=demo_topk suite=smoke output_dir=results/smoke",
        "  saebench run sae=gemma_scope_l12 suite=standard device=cuda",
        "  saebench run sae='saebench_pythia160m/*' suite=standard   (many SAEs: see `saebench sweep`)",
        "",
        "more: README.md (Usage, Configs, Metrics, Sweeps); `saebench --help` lists the other commands",
    ]
    return "\n".join(lines)


def _export_threads(args: list[str]) -> None:
    """`threads=N`: export OMP_NUM_THREADS / MKL_NUM_THREADS before torch is imported (the only safe way
    to give torch a thread count other than 1; see `saebench.torch_utils.set_threads`)."""
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") == "threads" and value.isdigit() and int(value) >= 1 and "torch" not in sys.modules:
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = value


def _rewrite_overrides(args: list[str]) -> list[str]:
    """Validate group selections (with suggestions) and expand SAE globs/lists; `saes=[...]` replaces
    the selected configs' SAEs (hydra needs the node deleted first, as configs store a mapping)."""
    from saebench.errors import ConfigError
    from saebench.paths import config_options
    from saebench.sae_configs import expand_sae_selection

    out: list[str] = []
    multirun = any(a in ("-m", "--multirun") for a in args)
    for arg in args:
        key, sep, value = arg.partition("=")
        bare = key.lstrip("+~")
        if sep and bare == "saes":
            out += ["~saes", f"+saes={value}"]
            continue
        if not sep or bare not in CONFIG_GROUPS:
            out.append(arg)
            continue
        if bare == "sae" and not (multirun and "," in value and not value.startswith("[")):
            names = expand_sae_selection(value)
            out.append(f"{key}={names[0]}" if len(names) == 1 else f"{key}=[{','.join(names)}]")
            continue
        options = config_options(bare)
        for name in value.split(","):
            if name and name not in options:
                raise ConfigError(did_you_mean(name, options, f"{bare} config"))
        out.append(arg)
    return out


SECRET_LEAF = re.compile(r"(^|_)(api_?key|secret|password|token|access_key)$", re.IGNORECASE)


def _refuse_secrets(args: list[str]) -> None:
    """A key on the command line ends up in shell history, process lists and logs: refuse it before
    anything (hydra included) can write or echo it. The value is never repeated in the message."""
    from saebench.errors import ConfigError

    for arg in args:
        key, sep, value = arg.partition("=")
        leaf = key.lstrip("+~").rsplit(".", 1)[-1]
        looks_secret = value.strip("'\"").startswith(("sk-", "hf_", "sk_")) and len(value) >= 16
        if sep and (SECRET_LEAF.search(leaf) or looks_secret):
            raise ConfigError(f"Refusing `{key}=...` on the command line: it looks like a secret, which would be kept "
                              "in shell history and logs. Put it in an environment variable and name the variable "
                              "(e.g. judge.api_key_env=OPENAI_API_KEY). Nothing was written.")


def _check_top_level(args: list[str]) -> None:
    """Every override names a known run setting (did-you-mean otherwise, instead of hydra's advice)."""
    from saebench.config import _RUN_KEYS
    from saebench.errors import ConfigError

    top_level = sorted(_RUN_KEYS | set(CONFIG_GROUPS) | {"hydra", "saes"})
    for arg in args:
        key, sep, _value = arg.partition("=")
        first = key.lstrip("+~").split(".")[0]
        if sep and first not in top_level and not arg.startswith("-"):
            raise ConfigError(did_you_mean(first, top_level, "run setting") + f" (in the override `{key}`)")


def _task_overrides(args: list[str], tasks_in_config: set[str]) -> list[str]:
    """Check the `task.<name>[.<param>]=value` overrides against the registry (did-you-mean for unknown
    tasks and parameters) and let a valid parameter of a task the composed config has be set whether or
    not the suite lists it (hydra would otherwise ask for `+`). A parameter of a task the run does not
    include is an error unless written `+task...` (which adds the task)."""
    import dataclasses

    from saebench.errors import ConfigError
    from saebench.metrics import discover

    registry = discover()
    out = []
    for arg in args:
        key, sep, _value = arg.partition("=")
        prefix = key[:len(key) - len(key.lstrip("+~"))]
        parts = key.lstrip("+~").split(".")
        if parts[0] != "task" or len(parts) < 2:
            out.append(arg)
            continue
        name = parts[1]
        if name not in registry:
            raise ConfigError(did_you_mean(name, [n for n, _ in registry.items()], "task") +
                              f" (in the override `{key}`)")
        if len(parts) >= 3 and sep:
            fields = [f.name for f in dataclasses.fields(registry.get(name).params)]
            if parts[2] not in fields:
                raise ConfigError(did_you_mean(parts[2], fields, f"parameter of task {name!r}") +
                                  f" (in the override `{key}`)")
            if not prefix:
                if name not in tasks_in_config:
                    raise ConfigError(f"`{key}` sets a parameter of task {name!r}, which this run does not include "
                                      f"(its tasks: {sorted(tasks_in_config)}). Add the task with `+{arg}`, or "
                                      "choose a suite that has it.")
                arg = f"++{arg}"
        out.append(arg)
    return out


def _run(args: list[str]) -> int:
    """`saebench run`: compose the config (hydra's compose API: nothing is written, no `outputs/` folder),
    validate, run. `-m` sweeps go through hydra's launcher (no config copies are saved either)."""
    from saebench import config as _config  # noqa: F401  (registers the ${saebench_asset:...} resolver)

    _refuse_secrets(args)
    args = _rewrite_overrides(args)
    if any(a in ("-m", "--multirun") for a in args):
        return _multirun(args)
    _setup_logging()
    from saebench.api import run_config

    report = run_config(_run_config(args))
    _print_report(report)
    return 1 if report.failed else 0


def _run_config(args: list[str]):
    """The validated RunConfig of (rewritten) overrides."""
    from saebench.config import compose, run_config_from_hydra

    _check_top_level(args)
    plain = [a for a in args if not a.lstrip("+~").startswith("task.")]
    tasks_in_config = set((_compose(compose, plain).get("task") or {}).keys())
    return run_config_from_hydra(_compose(compose, _task_overrides(args, tasks_in_config)))


def _validity(args: list[str]) -> int:
    """`saebench validity`: run suite=validity on the organism (any override allowed), then the report."""
    defaults = {"suite": "suite=validity", "sae": "sae=orgllama", "output_dir": "output_dir=results/validity"}
    given = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    args = [v for k, v in defaults.items() if k not in given] + args
    from saebench.validity import roles_from_specs, write_report

    if any(a in ("-m", "--multirun") for a in args):
        raise ConfigError("saebench validity runs one configuration; -m (multirun) is not supported here.")
    code = _run(args)
    rc = _run_config(_rewrite_overrides(args))
    out = os.path.join(rc.output_dir, "report")
    table = write_report(rc.output_dir, roles_from_specs(rc.saes), out)
    print(f"\nvalidity ({len(table)} metrics): {os.path.join(out, 'validity.md')}")
    for verdict, n in table["verdict"].value_counts().items():
        print(f"  {verdict}: {n}")
    return code


def _compose(compose, overrides: list[str]):
    """hydra composition; its errors (bad override syntax, unknown keys or options) become ConfigErrors."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from saebench.errors import ConfigError

    try:
        return compose(overrides)
    except (HydraException, OmegaConfBaseException) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        message = message if len(message) <= 400 else message[:400] + " ..."
        raise ConfigError(f"{message} (hydra override syntax: https://hydra.cc/docs/advanced/override_grammar/basic/)"
                          ) from None


def _multirun(args: list[str]) -> int:
    """hydra multirun through whichever launcher is selected (basic: sequential here; joblib, submitit: other
    processes or SLURM jobs, see configs/hydra/launcher). Each job records its failed units in a file of a
    folder under the working directory (shared with cluster jobs), so the exit status covers every job."""
    import shutil
    import tempfile

    import hydra
    from omegaconf import DictConfig

    from saebench.paths import config_dir

    failures = Path(tempfile.mkdtemp(prefix=".saebench-multirun-", dir=os.getcwd()))
    os.environ[MULTIRUN_FAILURES_ENV] = str(failures)

    @hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
    def app(cfg: DictConfig) -> None:
        from saebench.api import run_config
        from saebench.config import run_config_from_hydra

        _setup_logging()
        report = run_config(run_config_from_hydra(cfg))
        _print_report(report)
        folder = Path(os.environ[MULTIRUN_FAILURES_ENV])
        (folder / f"{report.run_id}.json").write_text(json.dumps({"failed": len(report.failed)}))

    saved_argv = sys.argv
    sys.argv = ["saebench run", *args, "hydra.output_subdir=null"]
    try:
        app()
        reports = [json.loads(f.read_text()) for f in failures.glob("*.json")]
    finally:
        sys.argv = saved_argv
        os.environ.pop(MULTIRUN_FAILURES_ENV, None)
        shutil.rmtree(failures, ignore_errors=True)
    failed = sum(r["failed"] for r in reports)
    if failed:
        logging.getLogger(__name__).error("multirun: %d unit(s) failed across %d job(s)", failed, len(reports))
    return 1 if failed else 0


MULTIRUN_FAILURES_ENV = "SAEBENCH_MULTIRUN_FAILURES"


def _setup_logging() -> None:
    """INFO to stderr in hydra's format; HTTP client chatter (a line per judge request) only as warnings."""
    from saebench.progress import quiet_library_bars

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_library_bars()          # progress policy (saebench.progress): no redrawn bars in logs


def _print_report(report) -> None:
    import pandas as pd

    from saebench.results import read_metrics
    from saebench.summary import headline_table

    rows = read_metrics(report.output_dir)
    ids = {o.sae_id for o in report.outcomes if o.status in ("ok", "partial", "cached")}
    rows = rows[rows["sae_id"].isin(ids)]
    table = headline_table(rows)
    if not table.empty:
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(table.to_string())
    counts = {s: sum(o.status == s for o in report.outcomes)
              for s in ("ok", "partial", "staged", "cached", "skipped", "error")}
    partial = f"{counts['partial']} partial, " if counts["partial"] else ""
    partial += f"{counts['staged']} staged for the judge, " if counts["staged"] else ""
    print(f"\nrun {report.run_id}: {counts['ok']} unit(s) computed, {partial}{counts['cached']} already present, "
          f"{counts['skipped']} skipped, {counts['error']} failed. Results: {report.output_dir}/metrics "
          "(saebench.results.read_metrics)")
    for o in report.partial:
        print(f"  PARTIAL {o.sae_id} / {o.task}: {o.reason}")
    for o in report.skipped:
        print(f"  skipped {o.sae_id} / {o.task}: {o.reason}")
    for o in report.failed:
        print(f"  FAILED {o.sae_id} / {o.task}: {o.reason}")


def _list(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench list")
    parser.add_argument("what", nargs="?", default="all", choices=("all", "tasks", "saes", "datasets", "formats",
                                                                           "configs"),
                        help="what to list (default: everything)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    ns = parser.parse_args(args)

    from saebench.data.tasks import dataset_names, dataset_spec
    from saebench.metrics import discover
    from saebench.metrics.unlearning.tasks import load_task, task_names
    from saebench.paths import config_options
    from saebench.sae_configs import sae_config_info
    from saebench.saes import ARCHITECTURES, FORMATS

    registry = discover()
    data = {
        "tasks": [{"name": info.name, "version": info.version, "description": info.description,
                   "needs": info.needs.names(),
                   "applies_to": None if info.applies_to is None else (info.applies_to.__doc__ or "").strip(),
                   "metrics": [{"name": m.name, "higher_is_better": m.higher_is_better, "headline": m.headline,
                                "headline_k": m.headline_k,
                                "description": m.description} for m in info.metrics]}
                  for _name, info in registry.items()],
        "saes": [vars(sae_config_info(n)) | {"sae_ids": list(sae_config_info(n).sae_ids)}
                 for n in config_options("sae")],
        "datasets": [{"name": n, "description": dataset_spec(n).description,
                      "source": dataset_spec(n).path or dataset_spec(n).hf_id, "classes": dataset_spec(n).class_names,
                      "spurious": dataset_spec(n).spurious_names}
                     for n in dataset_names()],
        "unlearning_tasks": [{"name": t.name, "description": t.description, "format": t.format,
                              "licence": t.licence} for t in map(load_task, task_names())],
        "formats": FORMATS.names(), "architectures": ARCHITECTURES.names(),
        **{f"{group}_configs": config_options(group) for group in CONFIG_GROUPS},
    }
    if ns.json:
        sections = {"tasks": ["tasks"], "saes": ["saes"], "datasets": ["datasets", "unlearning_tasks"],
                    "formats": ["formats", "architectures"],
                    "configs": [f"{group}_configs" for group in CONFIG_GROUPS]}
        chosen = data if ns.what == "all" else {k: data[k] for k in sections[ns.what]}
        print(json.dumps(chosen, indent=2, default=list))
        return 0
    if ns.what in ("all", "tasks"):
        _print_tasks(data["tasks"])
    if ns.what in ("all", "saes"):
        print("SAE configs (saebench run sae=<name>; globs select many, e.g. sae='saebench_pythia160m/*'):")
        for info in data["saes"]:
            ids = info["sae_ids"]
            shown = ", ".join(ids[:3]) + (f", ... ({len(ids)} SAEs)" if len(ids) > 3 else "")
            print(f"  {info['name']:<34} model={info['model']:<20} {'/'.join(info['formats']):<20} {shown}")
        print()
    if ns.what in ("all", "datasets"):
        print("probing datasets (tasks/probing; task.<plugin>.datasets=[...], local files via {name:, path:}):")
        for d in data["datasets"]:
            extra = f" x {'/'.join(d['spurious'])}" if d["spurious"] else ""
            print(f"  {d['name']:<26} {len(d['classes'])} classes{extra:<22} {d['source']}")
        print("\nunlearning tasks (tasks/unlearning; task.unlearning.task=<name>):")
        for t in data["unlearning_tasks"]:
            print(f"  {t['name']:<26} {t['format']:<12} {t['description']}")
        print()
    if ns.what in ("all", "formats"):
        print(f"SAE formats: {', '.join(data['formats'])}")
        print(f"architectures: {', '.join(data['architectures'])}\n")
    if ns.what in ("all", "configs"):
        for group in CONFIG_GROUPS:
            if group != "sae":
                print(f"{group} configs: {', '.join(data[f'{group}_configs'])}")
    return 0


def _sweep(args: list[str]) -> int:
    """`saebench sweep plan|run|status|collect` (saebench/sweeps)."""
    actions = ("plan", "run", "status", "collect")
    if not args or args[0] not in actions:
        print(did_you_mean(args[0] if args else "", actions, "sweep action") if args else
              f"usage: saebench sweep {'|'.join(actions)} ...", file=sys.stderr)
        return 2
    from omegaconf import OmegaConf

    from saebench.sweeps.executors import execute, executor_config
    from saebench.sweeps.plan import load_plan, plan_sweep, write_plan
    from saebench.sweeps.status import collect, status_text

    action, rest = args[0], args[1:]
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    job_size, executor, executor_overrides, overrides, judge_pool = 32, "local", {}, [], True
    it = iter(rest)
    for a in it:
        if a == "--job-size":
            job_size = int(next(it, "0"))
        elif a.startswith("--job-size="):
            job_size = int(a.split("=", 1)[1])
        elif a == "--no-judge-pool":
            judge_pool = False
        elif a.startswith("executor="):
            executor = a.split("=", 1)[1]
        elif a.startswith("executor."):
            key, value = a.removeprefix("executor.").split("=", 1)
            executor_overrides[key] = OmegaConf.from_dotlist([f"v={value}"]).v   # typed as hydra types it
        else:
            overrides.append(a)
    planned_from_args = action in ("plan", "run") and (not overrides or "=" in overrides[0])
    if planned_from_args:
        _refuse_secrets(overrides)
        plan = plan_sweep(_rewrite_overrides(overrides), job_size, judge_pool=judge_pool)
        path = write_plan(plan)
        print(plan.summary())
        print(f"plan: {path}")
        if action == "plan":
            return 0
    else:
        if len(overrides) != 1:
            raise ConfigError(f"saebench sweep {action} takes one plan folder (OUTPUT/sweeps/<id>), got {overrides}.")
        plan = load_plan(overrides[0])
    if action == "run":
        code = execute(plan, executor_config(executor, executor_overrides))
        print(status_text(plan))
        return code
    if action == "status":
        print(status_text(plan))
        return 0
    missing = collect(plan)
    n = sum(len(j.units) for j in plan.jobs)
    if missing.empty:
        print(f"sweep {plan.sweep_id}: all {n} planned units have exactly one result in {plan.output_dir}")
        return 0
    print(f"sweep {plan.sweep_id}: {len(missing)} of {n} planned units lack exactly one result "
          f"(`saebench sweep run {plan.folder}` finishes them):")
    print(missing.to_string(index=False))
    return 1


def _cache(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench cache")
    parser.add_argument("action", choices=("ls", "clear"))
    parser.add_argument("keys", nargs="*", help="entries to clear (key prefixes, as `cache ls` prints them)")
    parser.add_argument("--kind", choices=("activations", "baselines", "judge"), help="only this kind")
    parser.add_argument("--all", action="store_true", help="clear every entry")
    parser.add_argument("--cache-dir", help="cache folder (default: $SAEBENCH_CACHE_DIR or ~/.cache/saebench)")
    parser.add_argument("--json", action="store_true", help="machine-readable listing")
    ns = parser.parse_intermixed_args(args)

    from saebench.cache import clear_entries, default_cache_dir, list_entries
    from saebench.errors import ConfigError

    root = ns.cache_dir or str(default_cache_dir())
    entries = [e for e in list_entries(root) if ns.kind is None or e.kind == ns.kind]
    if ns.action == "ls":
        if ns.json:
            print(json.dumps([{"kind": e.kind, "key": e.key, "path": str(e.path), "size_bytes": e.size_bytes,
                               "n_items": e.n_items, "description": e.description} for e in entries], indent=2))
            return 0
        print(f"cache {root}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
              f"{_size(sum(e.size_bytes for e in entries))}")
        for e in entries:
            print(f"  {e.kind:<12} {e.key[:12]:<12} {_size(e.size_bytes):>9} {e.n_items:>8} item(s)  {e.description}")
        return 0
    if not ns.keys and not ns.all and ns.kind is None:
        raise ConfigError("`saebench cache clear` needs entry keys, --kind KIND or --all (nothing was deleted).")
    chosen = entries if (ns.all or not ns.keys) else [e for e in entries if any(e.key.startswith(k) for k in ns.keys)]
    unknown = [k for k in ns.keys if not any(e.key.startswith(k) for e in entries)]
    if unknown:
        raise ConfigError(f"No cache entry matches {unknown}; `saebench cache ls` lists the keys.")
    freed = clear_entries(chosen)
    print(f"cleared {len(chosen)} entr{'y' if len(chosen) == 1 else 'ies'}, {_size(freed)} freed from {root}")
    return 0


def _gate(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench gate")
    parser.add_argument("--baseline", nargs="+", required=True, help="baseline result folder(s)")
    parser.add_argument("--candidate", nargs="+", required=True, help="candidate result folder(s)")
    parser.add_argument("--config", help="gate.yaml: match, z, tolerances, metrics, fail_on_missing")
    parser.add_argument("--match", choices=("sae", "l0"), help="override the config's pairing")
    parser.add_argument("--summary", help="write a Markdown summary (e.g. for a pull-request comment)")
    parser.add_argument("--noise", help="noise.parquet (saebench validity): tolerances = measured 2.77 sigma "
                                        "for metrics the config does not set")
    ns = parser.parse_args(args)

    import dataclasses

    from saebench.gate import GateConfig, run_gate

    config = GateConfig.load(ns.config)
    if ns.noise:
        import pandas as pd

        config = config.with_noise_tolerances(pd.read_parquet(ns.noise))
    if ns.match:
        config = dataclasses.replace(config, match=ns.match)
    report = run_gate(ns.baseline, ns.candidate, config)
    print(report.table())
    if ns.summary:
        from pathlib import Path

        Path(ns.summary).write_text(report.markdown())
    print(f"\ngate {'FAILED' if report.failed else 'passed'}: " + ", ".join(
        f"{v}: {n}" for v, n in sorted(report.rows["verdict"].value_counts().items())))
    return 1 if report.failed else 0


def _leaderboard(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench leaderboard")
    parser.add_argument("action", choices=("build",))
    parser.add_argument("results", nargs="+", help="result folders")
    parser.add_argument("-o", "--output", required=True, help="site folder to write")
    parser.add_argument("--title", default="saebench leaderboard")
    parser.add_argument("--validity", action="append", default=[], metavar="REPORT",
                        help="a validity report folder (or a result folder holding report/) whose verdicts and noise "
                             "floors annotate the columns; each result folder's own report/ is always used")
    parser.add_argument("--no-static-plots", action="store_true",
                        help="skip the per-model SVG files (the interactive plots are always there)")
    ns = parser.parse_args(args)

    from saebench.leaderboard import build_site

    index = build_site(ns.results, ns.output, title=ns.title, validity=ns.validity,
                       static_plots=not ns.no_static_plots)
    print(f"leaderboard written: {index} (open it in a browser, or serve the folder)")
    return 0


def _export(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench export")
    parser.add_argument("format", choices=("saebench-json",))
    parser.add_argument("results", nargs="+", help="result folders")
    parser.add_argument("-o", "--output", required=True, help="folder for the JSON files")
    ns = parser.parse_args(args)

    from saebench.leaderboard.export import export_saebench_json

    files = export_saebench_json(ns.results, ns.output)
    print(f"wrote {len(files)} SAEBench JSON file(s) under {ns.output}")
    return 0


def _results(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench results")
    parser.add_argument("action", choices=("check",))
    parser.add_argument("results", nargs="+", help="result folders")
    parser.add_argument("--repair", action="store_true",
                        help="move unreadable parts (and their unit's other part) to RESULTS/quarantine/")
    ns = parser.parse_args(args)

    from pathlib import Path

    from saebench.errors import ConfigError
    from saebench.results.check import check_results, repair

    failed = False
    for root in ns.results:
        if not Path(root).is_dir():
            raise ConfigError(f"Result folder {root!r} does not exist.")
        report = check_results(root)
        print(f"{root}: {report.n_parts} part(s), {len(report.bad)} unreadable, {len(report.partial)} partial "
              f"unit(s), {len(report.temp_files)} temp file(s) of interrupted writes")
        for f, error in report.bad:
            print(f"  UNREADABLE {f}: {error[:300]}")
        for f in report.partial:
            print(f"  partial    {f} (the next run recomputes it)")
        if ns.repair and (report.bad or report.temp_files):
            repair(report)
            for f in report.moved:
                print(f"  moved to   {f}")
            print(f"  repaired: {len(report.moved)} part(s) moved aside; the next `saebench run` with the same "
                  "settings recomputes their units")
        elif report.bad:
            failed = True
            print(f"  run `saebench results check --repair {root}` to move them aside")
    return 1 if failed else 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _print_tasks(tasks: list[dict]) -> None:
    direction = {True: "higher", False: "lower", None: "-"}
    for task in tasks:
        print(f"task {task['name']} v{task['version']}: {task['description']}")
        needs = ", ".join(task["needs"]) or "nothing beyond its params"
        print(f"  needs: {needs}" + (f"; applies to: {task['applies_to']}" if task["applies_to"] else ""))
        width = max(len(m["name"]) for m in task["metrics"])
        for m in task["metrics"]:
            star = "*" if m["headline"] else " "
            at_k = f" (headline at k={m['headline_k']})" if m.get("headline_k") is not None else ""
            print(f"  {star} {m['name']:<{width}}  {direction[m['higher_is_better']]:<6}  {m['description']}{at_k}")
    print("  (* headline; direction = which way is better)\n")


if __name__ == "__main__":
    raise SystemExit(main())
