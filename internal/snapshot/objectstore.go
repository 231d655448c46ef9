package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// Objects stores snapshots in a JetStream object store bucket, so that a
// replica needs no persistent volume of its own.
type Objects struct {
	bucket jetstream.ObjectStore
	name   string
}

// NewObjects opens bucket, creating it (file storage) when missing.
func NewObjects(ctx context.Context, js jetstream.JetStream, bucket string) (*Objects, error) {
	os, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		os, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      bucket,
			Description: "helpdesk KPI aggregator snapshots",
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot bucket %s: %w", bucket, err)
	}
	return &Objects{bucket: os, name: bucket}, nil
}

func (o *Objects) String() string { return "object store " + o.name }

// Put stores data; JetStream makes the object visible only once all of it
// is stored, and the server acknowledges each chunk.
func (o *Objects) Put(ctx context.Context, name string, data []byte) error {
	return o.PutFrom(ctx, name, bytes.NewReader(data))
}

// PutFrom stores what r yields under name; the object store keeps the
// previous object of that name when r fails.
func (o *Objects) PutFrom(ctx context.Context, name string, r io.Reader) error {
	_, err := o.bucket.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
	return err
}

// Get reads name.
func (o *Objects) Get(ctx context.Context, name string) ([]byte, error) {
	r, err := o.bucket.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return data, err
}

// List returns the stored names.
func (o *Objects) List(ctx context.Context) ([]string, error) {
	infos, err := o.bucket.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(infos))
	for _, i := range infos {
		if !i.Deleted {
			names = append(names, i.Name)
		}
	}
	return names, nil
}

// Delete removes name.
func (o *Objects) Delete(ctx context.Context, name string) error { return o.bucket.Delete(ctx, name) }
