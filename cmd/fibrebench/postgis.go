package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"
)

// engineTimes is what the PostGIS run measured.
type engineTimes struct {
	version                    string
	load                       time.Duration
	area, nearest, exact, typo timing
	exactHits, typoHits        float64
	areaIDs, nearestIDs        []int
}

// findPostgres returns the directory of initdb, pg_ctl and postgres whose
// installation has the postgis and pg_trgm extensions: dir if given, else
// the newest /usr/lib/postgresql/<version>/bin, else the one of pg_ctl on
// PATH.
func findPostgres(dir string) (string, error) {
	var dirs []string
	if dir != "" {
		dirs = []string{dir}
	} else {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(found, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
		dirs = found
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				dirs = append(dirs, filepath.Dir(real))
			}
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		out, err := exec.Command(filepath.Join(d, "pg_config"), "--sharedir").Output()
		if err != nil {
			continue
		}
		share := strings.TrimSpace(string(out))
		for _, ext := range []string{"postgis", "pg_trgm"} {
			if _, err := os.Stat(filepath.Join(share, "extension", ext+".control")); err != nil {
				return "", fmt.Errorf("PostgreSQL in %s has no %s extension (Debian: apt-get install postgresql-15-postgis-3)", d, ext)
			}
		}
		return d, nil
	}
	return "", errors.New("no PostgreSQL found (Debian: apt-get install postgresql postgresql-15-postgis-3)")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// cluster is a throwaway PostgreSQL cluster in a temporary directory,
// reachable only through its Unix socket there.
type cluster struct {
	bin, dir string
	cred     *syscall.Credential // the postgres user's, when run as root
}

func startCluster(ctx context.Context, bin string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "fibrebench-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, and no postgres user to run the cluster as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if err := c.run(ctx, "initdb", "-D", data, "-U", "fibrebench", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		c.remove()
		return nil, err
	}
	// Durability off (a throwaway cluster loads faster); memory enough to
	// hold the tables and indexes, as a production server would.
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "+
		"-c shared_buffers=1GB -c maintenance_work_mem=1GB -c max_wal_size=8GB -c effective_cache_size=4GB", dir)
	if err := c.run(ctx, "pg_ctl", "start", "-D", data, "-w", "-t", "120", "-l", filepath.Join(dir, "postgres.log"), "-o", opts); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

func (c *cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("%s: %w\n%s%s", name, err, out.Bytes(), log)
	}
	return nil
}

// stop stops the cluster and removes its directory.
func (c *cluster) stop() {
	c.run(context.Background(), "pg_ctl", "stop", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w") //nolint:errcheck // removed anyway
	c.remove()
}

func (c *cluster) remove() { os.RemoveAll(c.dir) }

func (c *cluster) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("host=%s user=fibrebench dbname=postgres", c.dir))
}

func benchPostGIS(ctx context.Context, m meter, bin string, syn *synth, zones []orb.MultiPolygon, qs queries, logf func(string, ...any)) (*engineTimes, error) {
	cl, err := startCluster(ctx, bin)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	conn, err := cl.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var r engineTimes

	t := time.Now()
	exec := func(sql string) error {
		_, err := conn.Exec(ctx, sql)
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(sql)[0:3], err)
		}
		return nil
	}
	for _, sql := range []string{
		"CREATE EXTENSION postgis",
		"CREATE EXTENSION pg_trgm",
		"CREATE TABLE streets (id int PRIMARY KEY, full_name text NOT NULL)",
		"CREATE UNLOGGED TABLE civics_in (id int, street_id int, number text, lon float8, lat float8)",
		"CREATE UNLOGGED TABLE areas_in (id int, wkt text)",
	} {
		if err := exec(sql); err != nil {
			return nil, err
		}
	}
	k := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"streets"}, []string{"id", "full_name"}, pgx.CopyFromFunc(func() ([]any, error) {
		if k == len(syn.streets) {
			return nil, nil
		}
		st := &syn.streets[k]
		k++
		return []any{int32(k - 1), normStreet(st.typ + " " + st.name)}, nil
	})); err != nil {
		return nil, fmt.Errorf("COPY streets: %w", err)
	}
	k = 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"civics_in"}, []string{"id", "street_id", "number", "lon", "lat"}, pgx.CopyFromFunc(func() ([]any, error) {
		if k == syn.civics {
			return nil, nil
		}
		c := syn.civic(k)
		k++
		return []any{int32(c.id), int32(c.street), strconv.Itoa(c.number), c.p[0], c.p[1]}, nil
	})); err != nil {
		return nil, fmt.Errorf("COPY civics: %w", err)
	}
	k = 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"areas_in"}, []string{"id", "wkt"}, pgx.CopyFromFunc(func() ([]any, error) {
		if k == len(zones) {
			return nil, nil
		}
		k++
		return []any{int32(k - 1), wkt.MarshalString(zones[k-1])}, nil
	})); err != nil {
		return nil, fmt.Errorf("COPY areas: %w", err)
	}
	for _, sql := range []string{
		"CREATE TABLE civics AS SELECT id, street_id, number, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326) AS geom FROM civics_in",
		"DROP TABLE civics_in",
		"CREATE TABLE areas AS SELECT id, ST_Multi(ST_GeomFromText(wkt, 4326))::geometry(MultiPolygon, 4326) AS geom FROM areas_in",
		"DROP TABLE areas_in",
		"CREATE INDEX civics_geom ON civics USING gist (geom)",
		"CREATE INDEX civics_street_number ON civics (street_id, number)",
		"CREATE INDEX areas_geom ON areas USING gist (geom)",
		"CREATE INDEX streets_trgm ON streets USING gist (full_name gist_trgm_ops)",
		"VACUUM ANALYZE",
	} {
		if err := exec(sql); err != nil {
			return nil, err
		}
	}
	r.load = time.Since(t)
	if err := conn.QueryRow(ctx, "SELECT split_part(version(), ' ', 2) || ', PostGIS ' || postgis_lib_version()").Scan(&r.version); err != nil {
		return nil, err
	}
	logf("  PostgreSQL %s: loaded and indexed in %s", r.version, secs(r.load))

	stmts := map[string]string{
		// The lowest zone id, as AreaIndex.Find answers.
		"area":    "SELECT id FROM areas WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY id LIMIT 1",
		"nearest": "SELECT id FROM civics ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) LIMIT 1",
		// The streets most similar to the typed one (pg_trgm, GiST KNN),
		// then the civic with that number on them, best street first.
		"address": `SELECT c.id FROM (SELECT id, full_name <-> $1 AS d FROM streets WHERE full_name % $1 ORDER BY d LIMIT 5) s
			JOIN civics c ON c.street_id = s.id AND c.number = $2 ORDER BY s.d, c.id LIMIT 10`,
	}
	for name, sql := range stmts {
		if _, err := conn.Prepare(ctx, name, sql); err != nil {
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
	}
	var qerr error
	one := func(stmt string, args ...any) int {
		id := -1
		if err := conn.QueryRow(ctx, stmt, args...).Scan(&id); err != nil && !errors.Is(err, pgx.ErrNoRows) && qerr == nil {
			qerr = fmt.Errorf("%s: %w", stmt, err)
		}
		return id
	}
	n := len(qs.points)
	r.areaIDs, r.nearestIDs = make([]int, n), make([]int, n)
	r.area = m.measure(n, func(i int) { r.areaIDs[i] = one("area", qs.points[i][0], qs.points[i][1]) })
	r.nearest = m.measure(n, func(i int) { r.nearestIDs[i] = one("nearest", qs.points[i][0], qs.points[i][1]) })
	logf("  points timed")
	got := make([]int, len(qs.exact))
	r.exact = m.measure(len(qs.exact), func(i int) { got[i] = one("address", qs.exact[i].street, qs.exact[i].number) })
	r.exactHits = hitRate(got, qs.exact)
	r.typo = m.measure(len(qs.typo), func(i int) { got[i] = one("address", qs.typo[i].street, qs.typo[i].number) })
	r.typoHits = hitRate(got, qs.typo)
	logf("  addresses timed")
	return &r, qerr
}

func hitRate(got []int, qs []addrQuery) float64 {
	hits := 0
	for i, q := range qs {
		if got[i] == q.civic {
			hits++
		}
	}
	return float64(hits) / float64(len(qs))
}
