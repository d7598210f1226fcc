"""The command line's shared arguments: ``--debug``, ``--quiet`` and ``--verbose`` on every
command, and the old spellings of renamed arguments, kept working for one release with a
warning naming the new spelling. Used by :mod:`minicnn.cli` and the modules whose commands it
wires in (``add_arguments``); imports nothing heavy (``minicnn --help`` stays fast)."""
import argparse
import sys

from . import logs

DEBUG_HELP = "show the full traceback of an error (also MINICNN_DEBUG=1)"


def common_options(parser):
    """--debug, --quiet and --verbose on ``parser`` and on every command under it (nested ones
    too: ``minicnn exercises start``). Their defaults are left unset (SUPPRESS), so a
    command's parser never overwrites what was given before its name."""
    unset = {"default": argparse.SUPPRESS}
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP, **unset)
    chatter = parser.add_mutually_exclusive_group()
    chatter.add_argument("--quiet", "-q", dest="log_level", action="store_const",
                         const=logs.QUIET, help="show only warnings and errors on stderr, "
                                                "no progress (results still go to stdout)",
                         **unset)
    chatter.add_argument("--verbose", "-v", dest="log_level", action="store_const",
                         const=logs.VERBOSE, help="also show debugging details on stderr",
                         **unset)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                common_options(sub)


class _OldSpelling(argparse.Action):
    """An argument's old spelling, kept for one release: it still works, with a warning on
    stderr naming the new spelling ``new``; the value goes to ``target`` (whose default is
    ``unset``). A positional one (nargs "?") does nothing when absent. Given with the new
    spelling before it, it is refused: which one was meant?"""

    def __init__(self, option_strings, dest, target, new, unset, **kwargs):
        self.target, self.new, self.unset = target, new, unset
        super().__init__(option_strings, dest, help=f"deprecated: use {new}", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if values is None:                          # an old positional not given
            return
        old = option_string or f"{self.metavar} as a positional argument"
        if getattr(namespace, self.target, self.unset) not in (self.unset, argparse.SUPPRESS):
            parser.error(f"{old} is the old spelling of {self.new}: give {self.new} only")
        print(f"{parser.prog}: warning: {old} is deprecated; use {self.new} (the old "
              f"spelling goes in the next release)", file=sys.stderr)
        setattr(namespace, self.target, values)


def old_spelling(parser, old, new):
    """Keep ``old`` (an option string, or a positional's metavar) working for one release as
    the option ``new`` (the action ``add_argument`` returned), with a warning. A required
    ``new`` is then checked after parsing (:func:`check_required`): either spelling does."""
    spelling = f"{new.option_strings[0]} {new.metavar or new.dest.upper()}"
    common = {"action": _OldSpelling, "target": new.dest, "new": spelling, "type": new.type,
              "unset": new.default}
    if new.required:
        new.required = False
        parser.set_defaults(required_=[*(parser.get_default("required_") or []),
                                       (parser, new)])
    if old.startswith("-"):
        parser.add_argument(old, dest=new.dest, default=argparse.SUPPRESS, metavar=new.metavar,
                            **common)
    else:
        parser.add_argument(f"old_{new.dest}", nargs="?", metavar=old, default=None, **common)


def check_required(args):
    """Stop as argparse does when a required option kept under an old spelling was given
    under neither spelling."""
    for parser, action in getattr(args, "required_", ()):
        if getattr(args, action.dest, None) is None:
            parser.error(f"the following arguments are required: {action.option_strings[0]}")
