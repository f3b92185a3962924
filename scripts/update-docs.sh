#!/usr/bin/env bash
# Rewrites the generated part of docs/statistics-format.md (between the BEGIN GENERATED and
# END GENERATED markers) from `mmemu help statistics`. The workloads tests fail until it is run
# after a statistic is added or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MMEMU:-build/workloads/mmemu}
DOC=docs/statistics-format.md
generated=$("$BIN" help statistics)
python3 - "$DOC" "$generated" <<'PY'
import sys
path, generated = sys.argv[1], sys.argv[2]
text = open(path).read()
begin = "<!-- BEGIN GENERATED (mmemu help statistics) -->\n"
end = "<!-- END GENERATED -->"
a = text.index(begin) + len(begin)
b = text.index(end)
open(path, "w").write(text[:a] + generated + "\n" + text[b:])
PY
echo "updated $DOC"
