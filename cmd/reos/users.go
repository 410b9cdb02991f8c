package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/app"
)

// usersCreate is `reos users create --email … --role …`: how a production
// deployment gets its first admin. The password is read from standard
// input, never from a flag, so it stays out of shell history and ps.
func usersCreate(fs *flag.FlagSet) func(context.Context, *app.Main, io.Writer) error {
	email := fs.String("email", "", "the user's email (required)")
	role := fs.String("role", string(system.RoleAgent), "agent or admin")
	return func(ctx context.Context, m *app.Main, stdout io.Writer) error {
		if *email == "" {
			return errors.New("--email is required (the password is read from standard input)")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password from standard input: %w", err)
		}
		password := strings.TrimRight(line, "\r\n")
		if password == "" {
			return errors.New("no password on standard input: pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | reos users create --email …")
		}
		if err := m.Open(ctx); err != nil {
			return err
		}
		if err := m.Migrate(ctx); err != nil {
			return err
		}
		u, created, err := m.CreateUser(ctx, strings.ToLower(*email), system.Role(*role), password)
		var se *system.Error
		if errors.As(err, &se) && se.Code == system.EINVALID {
			var msgs []string
			for field, why := range se.Fields {
				msgs = append(msgs, field+": "+why)
			}
			slices.Sort(msgs)
			return fmt.Errorf("refused: %s", strings.Join(msgs, "; "))
		}
		if err != nil {
			return err
		}
		if !created {
			fmt.Fprintf(stdout, "user %s already exists (id %d, role %s); nothing changed\n", u.Email, u.ID, u.Role)
			return nil
		}
		fmt.Fprintf(stdout, "created user %s (id %d, role %s)\n", u.Email, u.ID, u.Role)
		return nil
	}
}
