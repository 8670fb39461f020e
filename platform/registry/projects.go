package registry

// projects.go: projects (tenants) and their API credentials.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// maxProjectName bounds a project name.
const maxProjectName = 255

// CreateProject creates a project with fresh credentials. The name must be unique.
func (r *Registry) CreateProject(ctx context.Context, name string) (Project, error) {
	if strings.TrimSpace(name) == "" {
		return Project{}, fmt.Errorf("create project: %w", invalidf("name is required"))
	}
	if err := checkLen("name", name, 1, maxProjectName); err != nil {
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	p := Project{
		ID:        randHex(32),                // 32 lowercase hex
		Name:      name,                       //
		AccessKey: randString(upperAlnum, 20), // 20 uppercase alphanumerics
		SecretKey: randString(alnum, 40),      // 40 alphanumerics
		Token:     randHex(48),                // 48 hex
		CreatedAt: r.now(),
	}
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		// Name uniqueness is the UNIQUE constraint, inside the transaction.
		_, err := tx.ExecContext(ctx, `INSERT INTO projects(id, name, access_key, secret_key, token, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.AccessKey, p.SecretKey, p.Token, unixNano(p.CreatedAt))
		if isUniqueViolation(err) {
			return nil, invalidf("project name %q already exists", name)
		}
		if err != nil {
			return nil, err
		}
		return func() { r.addProjectLocked(p) }, nil
	})
	if err != nil {
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	return p, nil
}

func (r *Registry) addProjectLocked(p Project) {
	ps := &projState{Project: p}
	r.projects[p.ID] = ps
	r.order = append(r.order, ps)
	r.byAK[p.AccessKey] = ps
	r.byToken[p.Token] = ps
	r.byName[p.Name] = ps
}

// Projects lists all projects, oldest first.
func (r *Registry) Projects() []Project {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Project, len(r.order))
	for i, ps := range r.order {
		out[i] = ps.Project
	}
	return out
}

// Project returns a project by ID.
func (r *Registry) Project(id string) (Project, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ps, ok := r.projects[id]; ok {
		return ps.Project, true
	}
	return Project{}, false
}

// ProjectByAccessKey returns the project whose AK is ak.
func (r *Registry) ProjectByAccessKey(ak string) (Project, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ps, ok := r.byAK[ak]; ok {
		return ps.Project, true
	}
	return Project{}, false
}

// ProjectByToken returns the project whose static X-Auth-Token is token.
func (r *Registry) ProjectByToken(token string) (Project, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ps, ok := r.byToken[token]; ok {
		return ps.Project, true
	}
	return Project{}, false
}

// projectLocked returns a project's state or ErrNotFound; r.mu must be held.
func (r *Registry) projectLocked(id string) (*projState, error) {
	ps, ok := r.projects[id]
	if !ok {
		return nil, fmt.Errorf("%w: project %q not found", ErrNotFound, id)
	}
	return ps, nil
}

// hasProject reports ErrNotFound for an unknown project (projects are never deleted).
func (r *Registry) hasProject(id string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, err := r.projectLocked(id)
	return err
}

func (r *Registry) loadProjects(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT id, name, access_key, secret_key, token, created_at FROM projects ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("projects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Project
		var created int64
		if err := rows.Scan(&p.ID, &p.Name, &p.AccessKey, &p.SecretKey, &p.Token, &created); err != nil {
			return fmt.Errorf("projects: %w", err)
		}
		p.CreatedAt = fromUnixNano(created)
		r.addProjectLocked(p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("projects: %w", err)
	}
	return nil
}

// ProjectByName returns the project called name (names are unique).
func (r *Registry) ProjectByName(name string) (Project, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ps, ok := r.byName[name]; ok {
		return ps.Project, true
	}
	return Project{}, false
}
