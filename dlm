#!/usr/bin/env bash
# dlm: builds the DiffusionLM command line in Release on first use (and whenever a source changed),
# then runs it. Usage: ./dlm --help
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$root/src/DiffusionLM.Cli/bin/Release/net10.0/linux-x64"
stamp="$bin/.dlm-build-stamp"

needs_build() {
  [ -f "$stamp" ] || return 0
  [ -n "$(find "$root/src" "$root/build" "$root/Directory.Build.props" "$root/Directory.Build.targets" \
      -newer "$stamp" -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' \) \
      -not -path '*/obj/*' -not -path '*/bin/*' -print -quit)" ]
}

if needs_build; then
  # One build at a time when several dlm commands start together.
  exec 9>"$root/.dlm-build.lock"
  flock 9
  if needs_build; then
    echo "dlm: building the command line (Release)..." >&2
    if ! dotnet build "$root/src/DiffusionLM.Cli/DiffusionLM.Cli.csproj" -c Release -nologo -v q -clp:ErrorsOnly >&2; then
      echo "dlm: build failed" >&2
      exit 1
    fi
    touch "$stamp"
  fi
  exec 9>&-
fi
export DLM_HOME="$root"
exec dotnet "$bin/dlm.dll" "$@"
