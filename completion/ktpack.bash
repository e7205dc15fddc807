# bash completion for ktpack(1)
#
# Load it with "source ktpack.bash", or install it where bash-completion
# looks (for instance /usr/share/bash-completion/completions/ktpack).
# Uses bash builtins only; bash-completion's _filedir is used when defined.

# The long options each command accepts.
_ktpack_opts()
{
	case $1 in
	blobs) echo "--json --help" ;;
	env) echo "--verify --help" ;;
	exec) echo "--help" ;;
	cmdline) echo "--arch --wprof --wprof-args --append --help" ;;
	memory) echo "--cpus --topology --memory --exact-memory --override --wprof --wprof-args --help" ;;
	doctor) echo "--kernel --qemu --probe --json --help" ;;
	kernel) echo "--json --help" ;;
	ldd) echo "--json --ldcache --arch --sysroot --help" ;;
	initramfs)
		echo "--output --init --compress --no-busybox --no-wprof --include --ldcache" \
			"--arch --sysroot --help"
		;;
	run | shell)
		echo "--kernel --cpus --memory --override --wprof --wprof-args --wprof-grace" \
			"--trace-out --include --cache-includes --timeout --signal --kill-after --boot-timeout --accel --no-pvh --append --qemu --qemu-opt --exact-memory" \
			"--channel --module --module-optional --modules --console --fail-on --topology --repro" \
			"--repro-panic --arch --sysroot --require-config --collect --out-dir --collect-max --help"
		;;
	esac
}

# The options of command $1 that take a value.
_ktpack_valued()
{
	case $1 in
	cmdline) echo "--arch --wprof-args --append" ;;
	memory) echo "--cpus --topology -m --memory --exact-memory --override --wprof-args" ;;
	doctor) echo "--kernel --qemu" ;;
	ldd) echo "--ldcache --arch --sysroot" ;;
	initramfs) echo "-o --output --init --compress --include --ldcache --arch --sysroot" ;;
	run | shell)
		echo "--kernel --cpus -m --memory --override --wprof-args --wprof-grace" \
			"--trace-out --include --timeout --signal --kill-after --boot-timeout --accel --append --qemu --qemu-opt --exact-memory" \
			"--channel --module --module-optional --modules --fail-on --topology --arch --sysroot" \
			"--require-config --collect --out-dir --collect-max"
		;;
	esac
}

# Prints the option of command $1 that $2 names: itself, or the one long
# option it is a unique prefix of (getopt_long accepts those).
_ktpack_resolve()
{
	local o match= n=0

	for o in $(_ktpack_opts "$1") -o -h -m; do
		if [[ $o == "$2" ]]; then
			echo "$o"
			return
		fi
		if [[ $2 == --?* && $o == "$2"* ]]; then
			match=$o
			((n++))
		fi
	done
	((n == 1)) && echo "$match"
}

# 0 when option $2 of command $1 takes a value.
_ktpack_takes_value()
{
	local o r

	r=$(_ktpack_resolve "$1" "$2")
	[[ -n $r ]] || return 1
	for o in $(_ktpack_valued "$1"); do
		[[ $o == "$r" ]] && return 0
	done
	return 1
}

_ktpack_files()
{
	local cur=$1	# what _filedir reads

	if declare -F _filedir >/dev/null; then
		_filedir
		return
	fi
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_ktpack_dirs()
{
	local cur=$1	# what _filedir reads

	if declare -F _filedir >/dev/null; then
		_filedir -d
		return
	fi
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -d -- "$cur")
}

_ktpack_words()
{
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

_ktpack_commands()
{
	local -A seen=()
	local c

	COMPREPLY=()
	while IFS= read -r c; do
		[[ -n ${seen[$c]} ]] && continue
		seen[$c]=1
		COMPREPLY+=("$c")
	done < <(compgen -c -- "$1")
}

# Completes the value $3 of option $2 of command $1.
_ktpack_value()
{
	case $(_ktpack_resolve "$1" "$2") in
	--compress) _ktpack_words "none gzip zstd" "$3" ;;
	--accel) _ktpack_words "kvm tcg auto" "$3" ;;
	--channel) _ktpack_words "auto virtio serial" "$3" ;;
	--signal) _ktpack_words "TERM INT QUIT HUP KILL" "$3" ;;
	--arch) _ktpack_words "x86_64 aarch64" "$3" ;;
	--sysroot | --out-dir) _ktpack_dirs "$3" ;;
	--kernel | -o | --output | --init | --ldcache | --trace-out | --include | --qemu | --modules)
		_ktpack_files "$3"
		;;
	*) COMPREPLY=() ;;	# a number or an argument string
	esac
}

_ktpack_cmds="blobs env exec cmdline memory doctor kernel ldd initramfs run shell"

_ktpack()
{
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
	local prev= i w start=0 opt

	COMPREPLY=()
	if ((COMP_CWORD <= 1)); then
		if [[ $cur == -* ]]; then
			_ktpack_words "--help -h --version -V" "$cur"
		else
			_ktpack_words "$_ktpack_cmds help version" "$cur"
		fi
		return 0
	fi
	if [[ $cmd == help ]]; then
		((COMP_CWORD == 2)) && _ktpack_words "$_ktpack_cmds" "$cur"
		return 0
	fi
	[[ -n $(_ktpack_opts "$cmd") ]] || return 0

	# Where the operands start: after "--", or at the first word that is
	# neither an option nor an option's value (getopt stops there).
	for ((i = 2; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -- ]]; then
			start=$((i + 1))
			break
		fi
		if [[ $w == -?* ]]; then
			# "--opt value", unless COMP_WORDBREAKS split "--opt=value".
			if [[ $w != *=* && ${COMP_WORDS[i + 1]} != = ]] &&
				_ktpack_takes_value "$cmd" "$w"; then
				((i++))
			elif [[ ${COMP_WORDS[i + 1]} == = ]]; then
				((i += 2))
			fi
			continue
		fi
		start=$i
		break
	done

	if ((start)); then
		case $cmd in
		exec | run)
			if ((COMP_CWORD == start)); then
				_ktpack_commands "$cur"
			else
				_ktpack_files "$cur"
			fi
			;;
		ldd | kernel) _ktpack_files "$cur" ;;
		esac
		return 0
	fi

	# The value of an option: "--opt value", "--opt=value" in one word, or
	# "--opt" "=" "value" when COMP_WORDBREAKS holds "=".
	if [[ $cur == = ]]; then
		_ktpack_value "$cmd" "${COMP_WORDS[COMP_CWORD - 1]}" ""
		return 0
	fi
	if ((COMP_CWORD >= 3)) && [[ ${COMP_WORDS[COMP_CWORD - 1]} == = ]]; then
		_ktpack_value "$cmd" "${COMP_WORDS[COMP_CWORD - 2]}" "$cur"
		return 0
	fi
	if [[ $cur == --*=* ]]; then
		# One word: bash replaces all of it, so keep "--opt=".
		opt=${cur%%=*}
		_ktpack_value "$cmd" "$opt" "${cur#*=}"
		compopt +o filenames 2>/dev/null
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=$opt=${COMPREPLY[i]}
		done
		return 0
	fi
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	if [[ $prev == -?* ]] && _ktpack_takes_value "$cmd" "$prev"; then
		_ktpack_value "$cmd" "$prev" "$cur"
		return 0
	fi

	case $cmd in
	exec)
		if [[ $cur == -* ]]; then
			_ktpack_words "--help --" "$cur"
		else
			_ktpack_commands "$cur"
		fi
		;;
	run)
		if [[ -z $cur || $cur == -* ]]; then
			_ktpack_words "$(_ktpack_opts "$cmd") --" "$cur"
		else
			_ktpack_commands "$cur"
		fi
		;;
	ldd | kernel)
		if [[ $cur == -* ]]; then
			_ktpack_words "$(_ktpack_opts "$cmd")" "$cur"
		else
			_ktpack_files "$cur"
		fi
		;;
	*)
		_ktpack_words "$(_ktpack_opts "$cmd")" "$cur"
		;;
	esac
	return 0
}

complete -F _ktpack ktpack
