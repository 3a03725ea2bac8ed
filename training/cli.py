"""The `gambol` command line: train, evaluate and render a policy.

    gambol train --env pendulum --algo ppo --out runs/swing [--timesteps 2e5] [--seed 0]
                 [--set num_envs=64 --set learning_rate=1e-3] [--logger tensorboard]
    gambol train --out runs/swing --resume [--timesteps 4e5]   # continue to 4e5 steps in all
    gambol eval --run runs/swing          # prints the saved policy's mean return
    gambol render --run runs/swing        # runs/swing/rollout.gif (or --out x.mp4)

Settings come from `gambol.training.defaults` (per env and algorithm), then
`--set`. Every argument is checked before anything is written; a mistake is
one line on stderr and exit status 2 (`--debug` shows the traceback). Ctrl-C
saves a checkpoint of the last finished iteration and prints how to resume.
The run folder's files are described in `gambol.training.runs`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import textwrap
from typing import Sequence

import jax
from jax.experimental import multihost_utils

import gambol
from gambol.envs import registry
from gambol.training import checkpoint, defaults, parallel
from gambol.training.acting import make_evaluator
from gambol.training.cli_args import (UsageError, check_env, check_new_folder, check_settings,
                                      check_video_path, fields_help, need_module, parse_settings,
                                      positive_int, timesteps)
from gambol.training.cli_output import (LOGGER_MODULES, LOGGERS, Progress, make_loggers,
                                        plot_rewards, render_rollout, reward)
from gambol.training.runs import TRAINERS, Run, load_policy

__all__ = ["main", "console", "load_policy", "parse_settings", "Run", "UsageError"]

INTERRUPTED = 130           # the shell's status for a command ended by Ctrl-C


# -- arguments ------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (a UsageError), not usage + message."""

    def error(self, message):
        raise UsageError(message)


def _train_epilog() -> str:
    lines = ["envs: " + ", ".join(registry.registered()), "",
             "settings (--set KEY=VALUE) of each algorithm, with the trainer's defaults:"]
    for algo, (_, config_cls) in sorted(TRAINERS.items()):
        lines += textwrap.wrap(fields_help(config_cls), 100, initial_indent=f"  {algo}: ",
                               subsequent_indent="      ")
    lines += ["", "defaults per env (gambol.training.defaults; --set wins, --timesteps defaults to the "
              "budget):"]
    for (env, algo), entry in sorted(defaults.TABLE.items()):
        text = " ".join(f"{k}={v!r}" for k, v in entry.settings.items())
        lines += textwrap.wrap(f"{text}; {entry.timesteps:,} steps", 100,
                               initial_indent=f"  {env} {algo}: ", subsequent_indent="      ")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")
    parser = _Parser(prog="gambol", description=__doc__.split("\n\n")[0], parents=[debug])
    parser.add_argument("--version", action="version", version=f"gambol {gambol.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train a policy into a run folder", parents=[debug],
                                epilog=_train_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--env", default=None, help="a registered env (listed below); with --resume "
                                                   "the run's")
    train.add_argument("--algo", default=None, choices=sorted(TRAINERS),
                       help="with --resume the run's")
    train.add_argument("--timesteps", type=timesteps, default=None,
                       help="env steps in all (2e5 or 200_000 work); default: the defaults "
                            "table's budget, or with --resume the run's")
    train.add_argument("--out", required=True, help="the run folder, runs/NAME")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint")
    train.add_argument("--seed", type=int, default=None, help="default 0; with --resume the run's")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting of the algorithm (repeatable; listed below)")
    train.add_argument("--env-set", action="append", default=[], metavar="KEY=VALUE",
                       help="a keyword of the env's factory (repeatable)")
    train.add_argument("--logger", action="append", default=[], choices=LOGGERS,
                       help="where metrics go besides metrics.jsonl (repeatable): tensorboard "
                            "(RUN/tensorboard, needs tensorboardX) or wandb (offline, needs wandb)")
    train.add_argument("--checkpoint-every", type=positive_int, default=1,
                       help="iterations between checkpoints")
    train.add_argument("--no-render", action="store_true", help="skip the rollout GIF")
    cluster = train.add_argument_group("multi-process (one command per process, same arguments)")
    cluster.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                         help="process 0's address; starts jax.distributed")
    cluster.add_argument("--num-processes", type=positive_int, default=1)
    cluster.add_argument("--process-id", type=int, default=0)
    for name, text in (("eval", "evaluate a run's saved policy"), ("render", "render a run's policy")):
        command = commands.add_parser(name, help=text, parents=[debug])
        command.add_argument("--run", required=True, help="the run folder")
        command.add_argument("--seed", type=int, default=0)
        if name == "eval":
            command.add_argument("--episodes", type=positive_int, default=None,
                                 help="episodes to average (default: the config's num_eval_envs)")
        else:
            command.add_argument("--out", default=None,
                                 help="a .gif or .mp4 (mp4 needs imageio-ffmpeg; default: RUN/rollout.gif)")
    return parser


# -- train: everything checked before the folder is touched -----------------------------------

def _resumed(args) -> Run:
    """The run in `--out` with the command's arguments checked against it."""
    if not os.path.isdir(args.out):
        raise UsageError(f"--resume: {args.out} does not exist, so there is no run to continue; "
                         f"drop --resume to start one there")
    try:
        saved = Run.load(args.out)
    except FileNotFoundError:
        raise UsageError(f"--resume: {args.out} holds no run.json, so there is no run to continue; "
                         f"drop --resume to start one there") from None
    for option, given, was in (("--env", args.env, saved.env), ("--algo", args.algo, saved.algo),
                               ("--seed", args.seed, saved.seed)):
        if given is not None and given != was:
            raise UsageError(f"--resume: {args.out} was trained with {option} {was}, not {given}; "
                             f"drop {option} or start a new run in another folder")
    _, config_cls = TRAINERS[saved.algo]
    explicit = check_settings(config_cls, parse_settings(args.set))
    env_explicit = parse_settings(args.env_set, "--env-set")
    for option, given, was in (("--set", explicit, saved.settings),
                               ("--env-set", env_explicit, saved.env_kwargs)):
        for key, value in given.items():
            if checkpoint.to_json(value) != checkpoint.to_json(was.get(key)):
                raise UsageError(f"--resume: {args.out} was trained with {option} {key}={was.get(key)!r}, "
                                 f"not {value!r}; a run keeps its settings")
    if args.timesteps is None and saved.timesteps is None:
        raise UsageError(f"--resume: {args.out}'s run.json records no budget; pass --timesteps")
    return dataclasses.replace(saved, timesteps=args.timesteps or saved.timesteps)


def _new_run(args) -> Run:
    if args.env is None or args.algo is None:
        missing = " and ".join(o for o, v in (("--env", args.env), ("--algo", args.algo)) if v is None)
        raise UsageError(f"train: {missing} required (or --resume to continue the run in --out)")
    check_env(args.env)
    check_new_folder(args.out)
    if os.path.isfile(os.path.join(args.out, "run.json")):
        saved = Run.load(args.out)
        raise UsageError(f"--out {args.out}: already holds a run ({saved.env}, {saved.algo}); pass "
                         f"--resume to continue it, or choose another folder (or remove this one)")
    _, config_cls = TRAINERS[args.algo]
    settings = {**defaults.settings(args.env, args.algo),
                **check_settings(config_cls, parse_settings(args.set))}
    steps = args.timesteps or defaults.budget(args.env, args.algo)
    if steps is None:
        raise UsageError(f"--timesteps: required for --env {args.env} --algo {args.algo} (the defaults "
                         f"table has no budget for it); for example --timesteps 1e6")
    return Run(args.out, args.env, args.algo, 0 if args.seed is None else args.seed, settings,
               parse_settings(args.env_set, "--env-set"), steps)


def _check_buildable(run: Run) -> None:
    """The config, env and policy build: a bad value or an env the algorithm cannot
    train is a UsageError here, before anything is written."""
    module, _ = TRAINERS[run.algo]
    try:
        config = run.config
    except (TypeError, ValueError) as error:
        raise UsageError(f"--set: {error}") from error
    try:
        if run.env_kwargs:                   # policy_spec builds the env too; this names the option
            registry.make(run.env, **run.env_kwargs)
    except (TypeError, ValueError, KeyError) as error:
        raise UsageError(f"--env-set: {error}") from error
    try:
        module.policy_spec(run.env, config, run.env_kwargs)
    except (TypeError, ValueError, KeyError, NotImplementedError) as error:
        raise UsageError(f"--algo {run.algo} on --env {run.env}: {error}") from error


def checked_run(args) -> Run:
    """The run `args` describe, every argument checked; nothing is written."""
    run = _resumed(args) if args.resume else _new_run(args)
    _check_buildable(run)
    for name in args.logger:
        if name in LOGGER_MODULES:
            module, extra = LOGGER_MODULES[name]
            need_module(module, f"--logger {name}", extra)
    return run


def _eval_env(run: Run, batch_size: int):
    module, _ = TRAINERS[run.algo]
    config = dataclasses.replace(run.config, num_eval_envs=batch_size)
    return module.TRAINER.envs(run.env, config, run.env_kwargs)[1]


def _resume_hint(run: Run) -> str:
    return f"gambol train --out {run.folder} --resume"


def train(args) -> dict:
    if args.coordinator is not None:
        parallel.initialize(args.coordinator, args.num_processes, args.process_id)
    lead = jax.process_index() == 0        # writes the run's files; every process checkpoints
    run = checked_run(args)
    created = not os.path.exists(run.folder)
    if jax.process_count() > 1:       # every process has read the folder before it changes
        multihost_utils.sync_global_devices("gambol train: folder checked")
    os.makedirs(run.folder, exist_ok=True)
    loggers = make_loggers(run, args.logger) if lead else []
    progress = Progress(run.timesteps) if lead else None

    def report(steps, metrics):
        for log in (*loggers, progress):
            log(steps, metrics)

    module, _ = TRAINERS[run.algo]
    if lead:
        run.save()
    try:
        make_policy, params, metrics = module.train(
            run.env, run.timesteps, env_kwargs=run.env_kwargs, seed=run.seed,
            progress_fn=report if lead else None, checkpoint_dir=run.path("checkpoints"),
            checkpoint_every=args.checkpoint_every, resume=args.resume, **run.settings)
    except BaseException as error:
        saved = checkpoint.latest_step(run.path("checkpoints"))
        if lead:
            progress.close()
            for log in loggers:
                log.close()
        if created and saved is None and lead:      # nothing worth keeping: leave no folder behind
            shutil.rmtree(run.folder, ignore_errors=True)
        if lead and progress.steps is None and isinstance(error, (TypeError, ValueError)):
            raise UsageError(str(error)) from error     # the trainer refused the settings
        if isinstance(error, KeyboardInterrupt):
            if saved is None and created:
                raise UsageError("interrupted before the first checkpoint; nothing was kept",
                                 INTERRUPTED) from None
            if saved is None:
                raise UsageError(f"interrupted before the first checkpoint; start again with: "
                                 f"{_resume_hint(run)}", INTERRUPTED) from None
            steps = progress.steps if lead else None
            raise UsageError(f"interrupted; checkpoint {saved} (step {steps or 0:,}) is in "
                             f"{run.path('checkpoints')}; continue with: {_resume_hint(run)}",
                             INTERRUPTED) from None
        raise
    if lead:
        progress.close()
        for log in loggers:
            log.close()
    # a resumed run replaces the policy saved before: a new step, the last one kept
    previous = checkpoint.latest_step(run.path("policy")) or 0
    checkpoint.save(run.path("policy"), previous + 1, params, {"env": run.env, "algo": run.algo},
                    keep=1)
    if not lead:
        return metrics
    plot_rewards(run.path("metrics.jsonl"), run.path("reward_curve.png"))
    print(f"{run.folder}: eval/episode_reward {reward(metrics):.3f}; policy in {run.path('policy')}")
    if not args.no_render:
        written = render_rollout(run, _eval_env(run, 1), make_policy, params, run.path("rollout.gif"),
                                 run.seed)
        for path in written:
            print(f"rollout: {path}")
    return metrics


# -- eval and render ---------------------------------------------------------------------------

def _saved(folder: str):
    try:
        run = Run.load(folder)
        return run, *load_policy(run)
    except FileNotFoundError as error:
        raise UsageError(f"--run {error}") from None


def evaluate(args) -> float:
    run, make_policy, params = _saved(args.run)
    episodes = args.episodes or run.config.num_eval_envs
    evaluator = make_evaluator(_eval_env(run, episodes), make_policy, run.config.episode_length)
    value = reward({k: float(v) for k, v in evaluator(params, jax.random.PRNGKey(args.seed)).items()})
    print(f"{run.folder}: mean return over {episodes} episodes: {value:.3f}")
    return value


def render(args) -> str | None:
    if args.out is not None:
        check_video_path(args.out)
    run, make_policy, params = _saved(args.run)
    written = render_rollout(run, _eval_env(run, 1), make_policy, params,
                             args.out or run.path("rollout.gif"), args.seed)
    for path in written:
        print(f"rollout: {path}")
    return written[0] if written else None


# -- entry points ------------------------------------------------------------------------------

COMMANDS = {"train": train, "eval": evaluate, "render": render}


def main(argv: Sequence[str] | None = None):
    """Runs one command; returns what it computed (metrics, the mean return, the
    video's path). A UsageError (or Ctrl-C) prints one line on stderr and exits
    with status 2 (130); `--debug` raises it with its traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as error:
        if "--debug" in argv:
            raise
        message, status = (error.args + (2,))[:2]
        print(f"gambol: {message}", file=sys.stderr)
        raise SystemExit(status) from None
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        print("gambol: interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None


def console() -> int:
    """The `gambol` console script: exit status 0 once the command finished."""
    main()
    return 0


if __name__ == "__main__":
    sys.exit(console())
