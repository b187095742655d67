"""The schema signature: everything pg_dump restores that the application can feel, as sorted text.

One query per part, over the catalogs of PostgreSQL 15-18 alike; each row is one line that names
its object, so a difference reads as "only on source: <line>". Objects that belong to an
extension are left to the extension's version (part `extensions`). Owners and privileges are
not in the signature: restore runs `--no-owner --no-privileges` and the cluster's owner is
`state_hub`, so they differ by design; `privileges_of` compares what the application role may do.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
_NOT_FROM_EXTENSION = "NOT EXISTS (SELECT FROM pg_depend e WHERE e.objid = {oid} AND e.deptype = 'e')"

PARTS: dict[str, str] = {
    "columns": f"""SELECT format('%I.%I #%s %I %s%s%s%s%s%s%s', n.nspname, c.relname,
            row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum), a.attname,
            format_type(a.atttypid, a.atttypmod),
            CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                 THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_collation co
                       JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) ELSE '' END,
            CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
            COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
            CASE a.attidentity WHEN 'a' THEN ' IDENTITY ALWAYS' WHEN 'd' THEN ' IDENTITY BY DEFAULT' ELSE '' END,
            CASE a.attgenerated WHEN 's' THEN ' GENERATED STORED' ELSE '' END,
            CASE WHEN COALESCE(a.attstattarget::int, -1) <> -1 THEN ' STATISTICS ' || a.attstattarget ELSE '' END
            || CASE WHEN a.attstorage <> t.typstorage THEN ' STORAGE ' || a.attstorage::text ELSE '' END)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND {USER_SCHEMAS}
          AND {_NOT_FROM_EXTENSION.format(oid="c.oid")}""",
    "tables": f"""SELECT format('%I.%I kind=%s persistence=%s replica_identity=%s rls=%s force_rls=%s options=%s%s%s',
            n.nspname, c.relname, c.relkind, c.relpersistence, c.relreplident, c.relrowsecurity,
            c.relforcerowsecurity, COALESCE(array_to_string(ARRAY(SELECT unnest(c.reloptions) ORDER BY 1), ','), ''),
            COALESCE(' partition of ' || (SELECT format('%I.%I', pn.nspname, p.relname) FROM pg_inherits i
                JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
                WHERE i.inhrelid = c.oid AND c.relispartition) || ' ' || pg_get_expr(c.relpartbound, c.oid), ''),
            COALESCE(' inherits ' || (SELECT string_agg(format('%I.%I', pn.nspname, p.relname), ',' ORDER BY i.inhseqno)
                FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
                WHERE i.inhrelid = c.oid AND NOT c.relispartition), ''))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v') AND {USER_SCHEMAS} AND {_NOT_FROM_EXTENSION.format(oid="c.oid")}""",
    "partition_keys": f"""SELECT format('%I.%I %s', n.nspname, c.relname, pg_get_partkeydef(c.oid))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' AND {USER_SCHEMAS}""",
    "constraints": f"""SELECT format('%I.%I %I %s%s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid),
            CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMAS} AND k.contype <> 'n'""",
    "indexes": f"""SELECT pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
            || CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END
            || CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}
          AND {_NOT_FROM_EXTENSION.format(oid="i.indrelid")}""",
    "views": f"""SELECT format('%I.%I %s %s', n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid)),
            ARRAY(SELECT DISTINCT r.relname FROM pg_rewrite w JOIN pg_depend d ON d.objid = w.oid
                  JOIN pg_class r ON r.oid = d.refobjid
                  WHERE w.ev_class = c.oid AND d.classid = 'pg_rewrite'::regclass AND d.refobjid <> c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMAS}""",
    "types": f"""SELECT format('%I.%I %s', n.nspname, t.typname, CASE t.typtype
          WHEN 'e' THEN 'enum(' || (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
                                    FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
          WHEN 'c' THEN 'composite(' || (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                             COALESCE((SELECT format(' COLLATE %I.%I', cn.nspname, co.collname)
                                                       FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                                       WHERE co.oid = a.attcollation AND co.oid <> 100), '')),
                                         ', ' ORDER BY a.attnum) FROM pg_attribute a
                                         WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
          WHEN 'r' THEN (SELECT format('range of %s collation=%s opclass=%s canonical=%s subdiff=%s',
                                       format_type(r.rngsubtype, NULL), r.rngcollation::regcollation,
                                       (SELECT format('%I.%I', ocn.nspname, oc.opcname) FROM pg_opclass oc
                                        JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace WHERE oc.oid = r.rngsubopc),
                                       r.rngcanonical::regproc, r.rngsubdiff::regproc)
                         FROM pg_range r WHERE r.rngtypid = t.oid)
          ELSE 'domain ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
               || COALESCE(' DEFAULT ' || t.typdefault, '')
               || COALESCE((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname)
                            FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype <> 'n'), '') END)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_class tc ON tc.oid = t.typrelid
        WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND tc.relkind = 'c')) AND {USER_SCHEMAS}
          AND {_NOT_FROM_EXTENSION.format(oid="t.oid")}""",
    "functions": f"""SELECT format('%I.%I(%s) kind=%s security_definer=%s md5=%s', n.nspname, p.proname,
            pg_get_function_identity_arguments(p.oid), p.prokind, p.prosecdef,
            md5(CASE WHEN p.prokind = 'a' THEN (SELECT format('%s %s %s %s %s %s %s %s %s', a.aggkind, a.aggnumdirectargs,
                         a.aggtransfn::regprocedure, a.aggfinalfn::regprocedure, a.aggcombinefn::regprocedure,
                         a.aggsortop::regoperator, format_type(a.aggtranstype, NULL), a.agginitval, a.aggfinalmodify)
                     FROM pg_aggregate a WHERE a.aggfnoid = p.oid) ELSE pg_get_functiondef(p.oid) END))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {USER_SCHEMAS} AND {_NOT_FROM_EXTENSION.format(oid="p.oid")}""",
    "triggers": f"""SELECT format('%s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND {USER_SCHEMAS}""",
    "policies": f"""SELECT format('%I.%I %I %s %s to=%s using=%s check=%s', n.nspname, c.relname, p.polname,
            CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, p.polcmd,
            (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
             FROM unnest(p.polroles) r), pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMAS}""",
    "sequences": f"""SELECT format('%I.%I %s increment=%s min=%s max=%s start=%s cache=%s cycle=%s persistence=%s owned_by=%s',
            n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax, s.seqstart,
            s.seqcache, s.seqcycle, c.relpersistence,
            COALESCE((SELECT format('%I.%I.%I', tn.nspname, tc.relname, a.attname) FROM pg_depend d
                      JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
                      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                      WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '-'))
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMAS}""",
    "rules": f"""SELECT format('%I.%I %I enabled=%s %s', n.nspname, c.relname, r.rulename, r.ev_enabled,
            regexp_replace(pg_get_ruledef(r.oid), '\\s+', ' ', 'g'))
        FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE r.rulename <> '_RETURN' AND {USER_SCHEMAS}""",
    "statistics": f"""SELECT format('%s target=%s', pg_get_statisticsobjdef(s.oid), COALESCE(s.stxstattarget::int, -1))
        FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE {USER_SCHEMAS}""",
    "operators": f"""SELECT format(
            '%I.%s(%s, %s) returns %s function=%s commutator=%s negator=%s restrict=%s join=%s hashes=%s merges=%s',
            n.nspname, o.oprname, format_type(o.oprleft, NULL), format_type(o.oprright, NULL),
            format_type(o.oprresult, NULL), o.oprcode::regprocedure, o.oprcom::regoperator, o.oprnegate::regoperator,
            o.oprrest::regproc, o.oprjoin::regproc, o.oprcanhash, o.oprcanmerge)
        FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
        WHERE {USER_SCHEMAS} AND {_NOT_FROM_EXTENSION.format(oid="o.oid")}""",
    "casts": f"""SELECT format('%s -> %s function=%s context=%s method=%s', format_type(k.castsource, NULL),
            format_type(k.casttarget, NULL), NULLIF(k.castfunc, 0)::regprocedure, k.castcontext, k.castmethod)
        FROM pg_cast k WHERE k.oid >= 16384 AND {_NOT_FROM_EXTENSION.format(oid="k.oid")}""",
    "comments": f"""SELECT format('%s %s: %s', o.type, o.identity, md5(d.description))
        FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
        WHERE d.objoid >= 16384 AND o.schema IS DISTINCT FROM 'pg_catalog'
          AND o.schema IS DISTINCT FROM 'information_schema' AND o.type <> 'extension'
          AND {_NOT_FROM_EXTENSION.format(oid="d.objoid")}""",
    "publications": """SELECT format('%I all_tables=%s insert=%s update=%s delete=%s truncate=%s root=%s tables=%s', p.pubname,
            p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot,
            COALESCE((SELECT string_agg(format('%I.%I', pt.schemaname, pt.tablename), ',' ORDER BY 1)
                      FROM pg_publication_tables pt WHERE pt.pubname = p.pubname), ''))
        FROM pg_publication p""",
    "event_triggers": """SELECT format('%I on %s function=%s enabled=%s tags=%s', e.evtname, e.evtevent,
            e.evtfoid::regprocedure, e.evtenabled, COALESCE(array_to_string(e.evttags, ','), ''))
        FROM pg_event_trigger e""",
    "foreign_servers": """SELECT format('%I wrapper=%I type=%s version=%s options=%s', s.srvname, w.fdwname, s.srvtype,
            s.srvversion, COALESCE(array_to_string(ARRAY(SELECT unnest(s.srvoptions) ORDER BY 1), ','), ''))
        FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw""",
    "schemas": f"""SELECT format('%I', n.nspname) FROM pg_namespace n WHERE {USER_SCHEMAS}
        AND n.nspname <> 'public' AND {_NOT_FROM_EXTENSION.format(oid="n.oid")}""",
    "extensions": "SELECT format('%I %s schema=%I', e.extname, e.extversion, n.nspname) FROM pg_extension e "
    "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'",
}
"""Part name -> a query whose first column is one signature line per object."""

DATABASE_SETTINGS = """SELECT format('%s in %s: %s', COALESCE(r.rolname, 'all roles'),
        CASE WHEN s.setdatabase = 0 THEN 'every database' ELSE 'this database' END, array_to_string(s.setconfig, ' '))
    FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole
    WHERE s.setdatabase = 0 OR d.datname = current_database()"""
"""`ALTER DATABASE ... SET`, `ALTER ROLE ... IN DATABASE ... SET` for this database and `ALTER ROLE ... SET`
for every database: pg_dump does not carry them (a role's search_path can change what the app reads),
so they are reported."""

DATABASE_LOCALE = """SELECT format('encoding=%s collate=%s ctype=%s provider=%s%s', pg_encoding_to_char(d.encoding),
        d.datcollate, d.datctype, d.datlocprovider,
        COALESCE(' locale=' || COALESCE(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale'), ''))
    FROM pg_database d WHERE d.datname = current_database()"""
"""The database's encoding and locale as initdb or CREATE DATABASE fixed them (no setting changes them later):
`datlocale` is 17's name for 15/16's `daticulocale`."""


def schema_signature(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    signature: dict[str, list[str]] = {}
    for part, query in PARTS.items():
        rows = conn.execute(query).fetchall()
        if part == "views":
            signature[part] = sorted(normalise_view(str(r[0]), list(r[1])) for r in rows)
        else:
            signature[part] = sorted(str(r[0]) for r in rows)
    return signature


def normalise_view(line: str, relations: list[str]) -> str:
    """One view line, printed alike by every major.

    PostgreSQL 15 qualifies every column of a single-table view with the table's name
    (`SELECT t.a FROM t;`); 16 and later do not (`SELECT a FROM t;`). With one relation, drop
    that qualification; whitespace runs become one space.
    """
    text = re.sub(r"\s+", " ", line).strip()
    if len(relations) == 1:
        name = re.escape(relations[0])
        text = re.sub(rf'(?<![\w."]){name}\.(?=[\w"])', "", text)
        text = re.sub(rf'(?<![\w."])"{name}"\.(?=[\w"])', "", text)
    return text


def database_settings(conn: psycopg.Connection[Any]) -> list[str]:
    return sorted(str(r[0]) for r in conn.execute(DATABASE_SETTINGS).fetchall())


def database_locale(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(DATABASE_LOCALE).fetchone()
    return str(row[0]) if row else ""
