#!/usr/bin/env bash
# Checks that every ckpt command and option, as the binary's own --help lists
# them, appears in the man page and in both shell completions, so they
# cannot drift from the CLI.
#
#   check_cli_docs.sh CKPT_BINARY PACKAGING_DIR
set -euo pipefail
ckpt=$1
dir=$2
man=$dir/ckpt.1.in
bash_completion=$dir/completions/ckpt.bash
zsh_completion=$dir/completions/_ckpt

# Subcommand names from a help text's "Subcommands:" section.
subcommands() { sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p'; }
# Long and short options from a help text's "Options:" section, without -h/--help.
options() {
  sed -n '/^Options:/,/^[A-Z]/p' | grep -oE '(^|[ ,])--?[a-z][a-z-]*' | tr -d ' ,' | grep -vxE -- '-h|--help' || true
}

missing=0
check() {  # what, word
  local what=$1 word=$2 roff=${2//-/\\-}
  grep -qF -- "$roff" "$man" || { echo "man page lacks $what '$word'"; missing=1; }
  grep -qwF -- "$word" "$bash_completion" || { echo "bash completion lacks $what '$word'"; missing=1; }
  grep -qF -- "$word" "$zsh_completion" || { echo "zsh completion lacks $what '$word'"; missing=1; }
}

count=0
for o in $("$ckpt" --help | options); do check "option" "$o"; count=$((count + 1)); done
for cmd in $("$ckpt" --help | subcommands); do
  check "command" "$cmd"
  count=$((count + 1))
  help=$("$ckpt" "$cmd" --help)
  for o in $(options <<<"$help"); do check "option of $cmd" "$o"; count=$((count + 1)); done
  for sub in $(subcommands <<<"$help"); do
    check "command $cmd" "$sub"
    count=$((count + 1))
    for o in $("$ckpt" "$cmd" "$sub" --help | options); do check "option of $cmd $sub" "$o"; count=$((count + 1)); done
  done
done
if [ "$count" -lt 40 ]; then
  echo "only $count commands and options found in ckpt's help: the parsing above no longer fits it"
  exit 1
fi
[ "$missing" -eq 0 ] || exit 1
echo "$count commands and options documented in the man page and both completions"
