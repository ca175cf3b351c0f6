#!/usr/bin/env bash
# Regenerates crates/scgenept-knowledge/assets/knowledge/{go_terms_by_symbol,symbol_aliases}.tsv.gz from
# the Debian packages of Bioconductor's org.Hs.eg.db and GO.db (3.16; GO release 2022-07-01).
# Needs: apt-get (Debian package archive), dpkg-deb, sqlite3. Output is byte-stable (gzip -n).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=crates/scgenept-knowledge/assets/knowledge
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod a+rwx "$WORK"  # apt-get download drops to the _apt user
command -v sqlite3 >/dev/null || { echo "sqlite3 is missing: apt-get install sqlite3" >&2; exit 1; }
(cd "$WORK" && apt-get download r-bioc-org.hs.eg.db r-bioc-go.db >/dev/null)
for deb in "$WORK"/*.deb; do dpkg-deb -x "$deb" "$WORK/x"; done
ORG=$(find "$WORK/x" -name org.Hs.eg.sqlite | head -n 1)
GO=$(find "$WORK/x" -name GO.sqlite | head -n 1)

# symbol \t BP|CC|MF \t term1; term2; ...  (distinct terms, database order)
sqlite3 "$ORG" <<SQL | gzip -9 -n > "$OUT/go_terms_by_symbol.tsv.gz"
ATTACH '$GO' AS godb;
.mode tabs
.headers off
SELECT symbol, ontology, group_concat(term, '; ') FROM (
  SELECT DISTINCT gi.symbol AS symbol, g.ontology AS ontology, t.term AS term, gi._id AS gid
  FROM go g JOIN gene_info gi ON gi._id = g._id JOIN godb.go_term t ON t.go_id = g.go_id
) GROUP BY gid, ontology ORDER BY symbol, ontology;
SQL

# alias \t current symbol(s), comma-separated when the alias is ambiguous; aliases that are
# themselves a current symbol are left out.
sqlite3 "$ORG" <<SQL | gzip -9 -n > "$OUT/symbol_aliases.tsv.gz"
.mode tabs
.headers off
SELECT alias_symbol, group_concat(symbol, ',') FROM (
  SELECT DISTINCT a.alias_symbol AS alias_symbol, gi.symbol AS symbol
  FROM alias a JOIN gene_info gi ON gi._id = a._id
  WHERE a.alias_symbol NOT IN (SELECT symbol FROM gene_info)
  ORDER BY a.alias_symbol, gi.symbol
) GROUP BY alias_symbol ORDER BY alias_symbol;
SQL
ls -l "$OUT"/*.tsv.gz
