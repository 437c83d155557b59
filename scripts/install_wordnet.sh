#!/usr/bin/env bash
# Install WordNet 3.0 for NLTK without the internet, from Debian's packages.
#
# Usage: scripts/install_wordnet.sh NLTK_DATA_DIR
#
# Result: NLTK_DATA_DIR/corpora/wordnet/ holding the WordNet 3.0 database files
# that NLTK's WordNet reader opens, plus the `lexnames` table (which Debian
# does not ship). Register the folder before use: NLTK_DATA=NLTK_DATA_DIR, or
# nltk.data.path.append(NLTK_DATA_DIR).
#
# Source: Debian's `wordnet-base` (database) and `wordnet-sense-index`
# (index.sense) in /usr/share/wordnet, or the folder named by WORDNET_SRC.
# When the files are absent and we run as root with apt-get, the two packages
# are installed (--no-install-recommends keeps the GUI out).
#
# Files are copied, never symlinked: NLTK 3.10 refuses links that leave its
# data root. Running it again is safe: an up-to-date folder is left alone, an
# incomplete or stale one is replaced in one move.
set -euo pipefail

usage() { echo "usage: $0 NLTK_DATA_DIR" >&2; exit 2; }
[[ $# -eq 1 && -n "$1" ]] || usage

target_root=$1
src=${WORDNET_SRC:-/usr/share/wordnet}
dest="$target_root/corpora/wordnet"

# What NLTK's WordNetCorpusReader opens (lexnames is written below).
files=(
    cntlist.rev index.sense
    index.adj index.adv index.noun index.verb
    data.adj data.adv data.noun data.verb
    adj.exc adv.exc noun.exc verb.exc
)

missing_sources() {
    local f
    for f in "${files[@]}"; do
        [[ -f "$src/$f" ]] || echo "$f"
    done
}

if [[ -n "$(missing_sources)" ]]; then
    if [[ -z "${WORDNET_SRC:-}" && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "install_wordnet: installing Debian packages wordnet-base wordnet-sense-index" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            wordnet-base wordnet-sense-index >&2
    fi
fi
if [[ -n "$(missing_sources)" ]]; then
    echo "install_wordnet: WordNet 3.0 files missing in $src: $(missing_sources | tr '\n' ' ')" >&2
    echo "  offline: apt-get install wordnet-base wordnet-sense-index (as root), or set" >&2
    echo "           WORDNET_SRC to a folder holding the WordNet 3.0 dict/ files" >&2
    echo "  online:  python -m nltk.downloader -d '$target_root' wordnet" >&2
    exit 1
fi

# The 45 lexicographer files of WordNet 3.0: number, name, syntactic category
# (1 noun, 2 verb, 3 adjective, 4 adverb), tab-separated as in lexnames(5WN).
# NLTK reads this table to name each synset's lexicographer file and asserts
# that the numbers run 0..44 in order.
write_lexnames() {
    local names=(
        adj.all:3 adj.pert:3 adv.all:4
        noun.Tops:1 noun.act:1 noun.animal:1 noun.artifact:1 noun.attribute:1
        noun.body:1 noun.cognition:1 noun.communication:1 noun.event:1
        noun.feeling:1 noun.food:1 noun.group:1 noun.location:1 noun.motive:1
        noun.object:1 noun.person:1 noun.phenomenon:1 noun.plant:1
        noun.possession:1 noun.process:1 noun.quantity:1 noun.relation:1
        noun.shape:1 noun.state:1 noun.substance:1 noun.time:1
        verb.body:2 verb.change:2 verb.cognition:2 verb.communication:2
        verb.competition:2 verb.consumption:2 verb.contact:2 verb.creation:2
        verb.emotion:2 verb.motion:2 verb.perception:2 verb.possession:2
        verb.social:2 verb.stative:2 verb.weather:2
        adj.ppl:3
    )
    local i=0 entry
    for entry in "${names[@]}"; do
        printf '%02d\t%s\t%s\n' "$i" "${entry%%:*}" "${entry##*:}"
        i=$((i + 1))
    done
}

up_to_date() {
    local f
    [[ -d "$dest" ]] || return 1
    for f in "${files[@]}"; do
        cmp -s "$src/$f" "$dest/$f" || return 1
    done
    cmp -s <(write_lexnames) "$dest/lexnames"
}

if up_to_date; then
    echo "install_wordnet: $dest is up to date"
    exit 0
fi

mkdir -p "$target_root/corpora"
# Build beside the destination, then swap it in, so a reader never sees a
# half-copied corpus and an interrupted run leaves nothing behind.
tmp=$(mktemp -d "$target_root/corpora/.wordnet.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for f in "${files[@]}"; do
    cp -- "$src/$f" "$tmp/$f"   # a copy: NLTK refuses links leaving its root
done
write_lexnames > "$tmp/lexnames"
[[ $(wc -l < "$tmp/lexnames") -eq 45 ]]
# Keep the licence with the data (NLTK's wordnet.license() reads LICENSE).
for lic in /usr/share/doc/wordnet-base/copyright "$src/LICENSE"; do
    if [[ -f "$lic" ]]; then cp -- "$lic" "$tmp/LICENSE"; break; fi
done
chmod 755 "$tmp"
chmod 644 "$tmp"/*

if [[ -e "$dest" ]]; then
    old="$target_root/corpora/.wordnet.old.$$"
    mv -- "$dest" "$old"
    mv -- "$tmp" "$dest"
    rm -rf -- "$old"
else
    mv -- "$tmp" "$dest"
fi
trap - EXIT
echo "install_wordnet: WordNet 3.0 installed in $dest (set NLTK_DATA=$target_root)"
