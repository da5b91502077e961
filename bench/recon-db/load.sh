#!/usr/bin/env bash
# Load left.tsv into PostgreSQL and right.tsv into MariaDB (COPY / LOAD DATA LOCAL INFILE).
# usage: load.sh DIR [PG_URL] [MARIADB_DB]
set -euo pipefail
dir=$1
pg=${2:-postgres://postgres@127.0.0.1:5432/test}
my=${3:-recondb_bench}
t0=$(date +%s)
psql -v ON_ERROR_STOP=1 -q "$pg" <<SQL &
DROP SCHEMA IF EXISTS recondb_bench CASCADE;
CREATE SCHEMA recondb_bench;
CREATE TABLE recondb_bench.subs (id bigint NOT NULL, name varchar(64), balance numeric(14,2),
  status varchar(4), opened timestamp(6), flag smallint, note varchar(64));
\copy recondb_bench.subs FROM '$dir/left.tsv'
ALTER TABLE recondb_bench.subs ADD PRIMARY KEY (id);
VACUUM ANALYZE recondb_bench.subs;
SQL
mysql -h 127.0.0.1 -uroot --local-infile=1 <<SQL &
DROP DATABASE IF EXISTS $my;
CREATE DATABASE $my CHARACTER SET utf8mb4;
USE $my;
CREATE TABLE subs (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64), balance DECIMAL(14,2),
  status VARCHAR(4), opened DATETIME(6), flag TINYINT, note VARCHAR(64)) ENGINE=InnoDB;
SET unique_checks=0;
LOAD DATA LOCAL INFILE '$dir/right.tsv' INTO TABLE subs CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\n';
ANALYZE TABLE subs;
SQL
wait %1 && wait %2
echo "loaded in $(( $(date +%s) - t0 )) s"
