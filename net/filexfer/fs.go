package filexfer

import (
	"io"
	"io/fs"
	"os"
)

// FS is the file system the receiver writes to. OSFS is the real one;
// tests put failures (a full disk) in its place.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Link makes newname a hard link to oldname; it must fail with
	// fs.ErrExist when newname exists.
	Link(oldname, newname string) error
	Rename(oldname, newname string) error
	Remove(name string) error
	Stat(name string) (fs.FileInfo, error)
	MkdirAll(name string, perm fs.FileMode) error
}

// File is a file being received.
type File interface {
	io.Writer
	io.Closer
	Sync() error
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
	Stat() (fs.FileInfo, error)
}

// OSFS is the operating system's file system.
type OSFS struct{}

func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}
func (OSFS) Link(oldname, newname string) error           { return os.Link(oldname, newname) }
func (OSFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (OSFS) Remove(name string) error                     { return os.Remove(name) }
func (OSFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
