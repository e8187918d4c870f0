# bash completion for iohandover. Commands and their options are read
# from the binary's own --help, so they never drift from it.
_iohandover()
{
	local cur prev cmd
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" --help 2>/dev/null |
			awk '/^  [a-z]/ {print $1}') --help --version" -- "$cur"))
		return
	fi
	cmd=${COMP_WORDS[1]}
	case $prev in
	--json|--svg|--raw|--save-handover|--next)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--strategy)
		COMPREPLY=($(compgen -W "deserialize verify rebuild stop-the-world" -- "$cur")); return ;;
	--format)
		COMPREPLY=($(compgen -W "arm-s1 arm-s2 vtd-ss x86-64 amd-v1 riscv" -- "$cur")); return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null |
			grep -oE -- '--[a-z][a-z0-9-]*' | sort -u) --version" -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _iohandover iohandover
