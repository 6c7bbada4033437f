#!/usr/bin/env bash
# Plan every stack a pull request changes, and write the Markdown of one PR comment.
#
#   scripts/pr-plan.sh BASE [OUT]
#
#   BASE  the revision the PR merges into, as this clone knows it (origin/main). The checkout is the PR's head or
#         its merge commit; stacks are the folders stacks/<name>/ with a file changed in `git diff BASE...HEAD`.
#   OUT   the comment to write (default: plan-comment.md). Each stack's own report goes next to it as
#         plan-<name>.md, so CI can keep them as artifacts.
#
# A changed stack that BASE already has: `ffinfra plan stacks/<name> --base BASE --format markdown`.
# A new stack: `ffinfra show stacks/<name>`. A deleted stack: one line saying so.
#
# Exit 0 when every plan ran, whether it found changes (ffinfra's exit 2) or not (0). Exit 1 when a plan failed:
# an invalid spec, a refused plan (destructive or unsupported), an internal error. OUT is written either way, so the
# comment still tells the author what failed. The ffinfra to run is $FFINFRA (default: ffinfra on PATH).
# .github/workflows/ffinfra-plan.yml runs this on every pull request that touches stacks/ and posts OUT.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BASE [OUT]   (BASE: the PR's base revision, e.g. origin/main)" >&2
    exit 64
fi
base=$1
out=${2:-plan-comment.md}
dir=$(dirname -- "$out")
ffinfra=${FFINFRA:-ffinfra}
marker='<!-- ffinfra-plan -->'  # the workflow finds its own comment by this line and updates it
limit=60000                      # GitHub caps a comment at 65,536 characters

if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
    echo "error: base revision '$base' is not in this clone (fetch it, e.g. actions/checkout with fetch-depth: 0)" >&2
    exit 1
fi

# Stack folders with a changed file, once each, in order (stacks/<name>/...; files directly in stacks/ are not stacks).
mapfile -t stacks < <(git diff --name-only "$base...HEAD" -- stacks/ | awk -F/ 'NF >= 3 { print $2 }' | sort -u)

failed=0
{
    echo "$marker"
    echo "## ffinfra plan"
    echo
    if [ ${#stacks[@]} -eq 0 ]; then
        echo "No stack changes between \`$base\` and this pull request."
    fi
} >"$out"

for name in "${stacks[@]}"; do
    stack="stacks/$name"
    report="$dir/plan-$name.md"
    errors="$dir/plan-$name.err"
    rm -f -- "$report" "$errors"
    if [ ! -f "$stack/cluster.yaml" ]; then
        printf '### `%s`\n\nThe stack was removed (no `%s/cluster.yaml` here). ffinfra plans no teardown.\n\n' \
            "$name" "$stack" >>"$out"
        continue
    fi
    if ! git cat-file -e "$base:$stack/cluster.yaml" 2>/dev/null; then
        # A new stack has nothing to compare with: show what it compiles to.
        if "$ffinfra" show "$stack" >"$report.txt" 2>"$errors"; then
            { printf '### `%s` (new stack)\n\n```\n' "$name"; cat -- "$report.txt"; printf '```\n'; } >"$report"
        else
            failed=1
            { printf '### `%s` (new stack): ⛔ does not compile\n\n```\n' "$name"; cat -- "$errors"; printf '```\n'; } >"$report"
        fi
        rm -f -- "$report.txt"
    else
        "$ffinfra" plan "$stack" --base "$base" --format markdown -o "$report" >/dev/null 2>"$errors"
        rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then  # 0: no change, 2: changes; anything else failed
            failed=1
            if [ ! -s "$report" ]; then  # an error: no report, only the messages
                { printf '### `%s`: ⛔ plan failed (exit %s)\n\n```\n' "$name" "$rc"; cat -- "$errors"; printf '```\n'; } >"$report"
            fi  # else a refused plan: its report says why
        fi
    fi
    { cat -- "$report"; echo; } >>"$out"
    [ -s "$errors" ] || rm -f -- "$errors"
done

if [ "$(wc -c <"$out")" -gt "$limit" ]; then
    head -c "$limit" -- "$out" | sed '$d' >"$out.cut"
    printf '\n\n… cut at %s characters: the full reports are the plan-*.md files of this workflow run.\n' "$limit" >>"$out.cut"
    mv -- "$out.cut" "$out"
fi

exit "$failed"
