package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/outbox"
)

func TestWithTxRollback(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name  string
		fail  func() error // called after the writes; its error is returned by fn
		panic bool
	}{
		{name: "fn error", fail: func() error { return errBoom }},
		{name: "wrapped fn error", fail: func() error { return errors.Join(errors.New("context"), errBoom) }},
		{name: "panic", panic: true},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		existing := create(t, s, newFile("existing"), "192.0.2.1", day0)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := files.NewID()
				run := func() error {
					return s.WithTx(t.Context(), func(tx files.Tx) error {
						if _, err := tx.CreateFile(t.Context(), newFile("doomed"), id, "192.0.2.2", day0); err != nil {
							return err
						}
						if _, err := tx.UpdateFile(t.Context(), existing.ID, files.FilePatch{Name: ptr("renamed")}, 0, day0); err != nil {
							return err
						}
						if _, err := tx.RecordDownload(t.Context(), existing.ID, "192.0.2.3", day0); err != nil {
							return err
						}
						if _, err := tx.Enqueue(t.Context(), outbox.Invalidation{Keys: []string{"file:" + id}}); err != nil {
							return err
						}
						if tc.panic {
							panic("boom")
						}
						return tc.fail()
					})
				}
				if tc.panic {
					func() {
						defer func() {
							if r := recover(); r != "boom" {
								t.Errorf("recovered %v, want the panic of fn", r)
							}
						}()
						_ = run()
					}()
				} else if err := run(); !errors.Is(err, errBoom) {
					t.Fatalf("WithTx error = %v, want fn's error", err)
				}

				if _, err := s.GetFile(t.Context(), id); !errors.Is(err, files.ErrNotFound) {
					t.Errorf("GetFile(rolled back file) error = %v, want ErrNotFound", err)
				}
				got, err := s.GetFile(t.Context(), existing.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Name != "existing" || got.Version != 1 || got.DownloadCount != 0 {
					t.Errorf("existing file changed by a rolled-back tx: %+v", got)
				}
				pending, err := s.Pending(t.Context(), 0, time.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if len(pending) != 0 {
					t.Errorf("outbox holds %d entries after rollback", len(pending))
				}
				st, err := s.GetStats(t.Context(), day0)
				if err != nil {
					t.Fatal(err)
				}
				if want := (files.FileStats{Date: "2024-03-10", Uploads: 1, BytesUploaded: 100, UniqueIPs: 1}); st != want {
					t.Errorf("stats after rollback = %+v, want %+v", st, want)
				}
				// The store still works: the connection was released.
				create(t, s, newFile("after"), "", day0.AddDate(0, 0, 1))
			})
		}
	})
}

func TestConcurrentUpdates(t *testing.T) {
	const workers = 20
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})

		t.Run("unconditional", func(t *testing.T) {
			f := create(t, s, newFile("hot"), "", day0)
			errs := concurrently(workers, func() error {
				_, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
					return tx.UpdateFile(t.Context(), f.ID, files.FilePatch{Name: ptr("hot")}, 0, day0)
				})
				return err
			})
			for _, err := range errs {
				if err != nil {
					t.Errorf("UpdateFile: %v", err)
				}
			}
			got, err := s.GetFile(t.Context(), f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != workers+1 {
				t.Errorf("version = %d, want %d", got.Version, workers+1)
			}
		})

		t.Run("if-match: one winner", func(t *testing.T) {
			f := create(t, s, newFile("contended"), "", day0)
			errs := concurrently(workers, func() error {
				_, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
					return tx.UpdateFile(t.Context(), f.ID, files.FilePatch{}, 1, day0)
				})
				return err
			})
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, files.ErrVersionMismatch):
					t.Errorf("UpdateFile: %v, want nil or ErrVersionMismatch", err)
				}
			}
			if won != 1 {
				t.Errorf("%d updates at version 1 succeeded, want 1", won)
			}
		})

		t.Run("downloads", func(t *testing.T) {
			f := create(t, s, newFile("popular"), "", day0)
			for _, err := range concurrently(workers, func() error { return download(t, s, f.ID) }) {
				if err != nil {
					t.Errorf("RecordDownload: %v", err)
				}
			}
			got, err := s.GetFile(t.Context(), f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.DownloadCount != workers || got.Version != 1 {
				t.Errorf("download_count = %d, version = %d; want %d, 1", got.DownloadCount, got.Version, workers)
			}
		})
	})
}
