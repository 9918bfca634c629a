# bash completion for ckpt (Checkpoint Inspector's command line)

_ckpt_files() {
  # Checkpoints, index files and folders; everything else stays reachable by typing.
  COMPREPLY+=($(compgen -f -X '!*.@(safetensors|gguf|npy|npz|pt|pth|bin|ckpt|json)' -- "$1"))
  COMPREPLY+=($(compgen -d -- "$1"))
}

_ckpt() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi

  local commands="info convert tree stats checksum show diff spec map"
  local cmd="" sub="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      -*) ;;
      *)
        if [[ -z $cmd ]]; then cmd=${words[i]}
        elif [[ $cmd == map && -z $sub ]]; then sub=${words[i]}
        fi ;;
    esac
  done

  local presets="pytorch-to-mlx mlx-to-pytorch"
  case $prev in
    --dtype) COMPREPLY=($(compgen -W "float16 bfloat16 float32 float64" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "npy npz safetensors gguf pytorch" -- "$cur")); return ;;
    --safetensors-format | --meta-format) COMPREPLY=($(compgen -W "pt mlx none" -- "$cur")); return ;;
    --only) COMPREPLY=($(compgen -W "match missing unexpected shape layout dtype" -- "$cur")); return ;;
    --map) COMPREPLY=($(compgen -W "$presets" -- "$cur")); _ckpt_files "$cur"; return ;;
    --spec | -o | --output) _ckpt_files "$cur"; return ;;
    --root | --depth | --bins | --threads | --slice | --rows | --cols | --tolerance | --shard-size | --alignment | --max-meta-items)
      return ;;
  esac

  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi

  local opts=""
  case $cmd in
    info) opts="--json --root --max-meta-items" ;;
    tree) opts="--depth --root --json --no-fold" ;;
    stats) opts="--bins --threads --root --json" ;;
    checksum) opts="--threads --root --json" ;;
    show) opts="--slice --rows --cols --transpose --root --json" ;;
    spec) opts="--root -o --output" ;;
    diff) opts="--spec --map --root --values --tolerance --json --only" ;;
    convert) opts="--dtype --root --format --compress --safetensors-format --meta-format --shard-size --alignment --map
                   --verify --no-sync -q --quiet --json --mlx-quantized" ;;
    map)
      case $sub in
        "") COMPREPLY=($(compgen -W "suggest invert presets show --help" -- "$cur")); return ;;
        show) opts="--json" ;;
        suggest) opts="--spec --json -o --output" ;;
        invert) opts="-o --output" ;;
        presets) opts="" ;;
      esac
      if [[ $cur != -* && ($sub == show || $sub == invert) ]]; then
        COMPREPLY=($(compgen -W "$presets" -- "$cur"))
      fi ;;
    *) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
  else
    _ckpt_files "$cur"
  fi
}

complete -o filenames -F _ckpt ckpt
