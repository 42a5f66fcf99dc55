//go:build !linux

package ndt7

import (
	"errors"
	"net"
)

// readTCPInfo returns nil: TCP_INFO is read on Linux only.
func readTCPInfo(net.Conn) (*TCPInfo, error) { return nil, errors.ErrUnsupported }

// setCongestionControl is not supported outside Linux.
func setCongestionControl(net.Conn, string) error { return errors.ErrUnsupported }

// readSocketStats is not supported outside Linux.
func readSocketStats(net.Conn) (*SocketStats, error) { return nil, errors.ErrUnsupported }

// congestionControl is not supported outside Linux.
func congestionControl(net.Conn) (string, error) { return "", errors.ErrUnsupported }
