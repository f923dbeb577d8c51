package codec

import (
	"encoding/json"
	"time"
)

// SessionInfo describes a client session; it is the value of the
// sessionInfos hash field of the session ID and is shown
// by `juicefs status`. The fields and their order are those of JuiceFS 1.4.1.
type SessionInfo struct {
	Version    string // client version, e.g. "1.4.1+unknown"
	HostName   string
	IPAddrs    []string `json:",omitempty"`
	MountPoint string   // mount point, or the service name for non-FUSE users
	MountTime  time.Time
	ProcessID  int
}

// Marshal encodes s as compact JSON, as JuiceFS does (MountTime in RFC 3339
// with nanoseconds and the local UTC offset).
func (s *SessionInfo) Marshal() ([]byte, error) {
	return json.Marshal(s)
}

// ParseSessionInfo decodes a sessionInfos value. Unknown fields are ignored;
// an empty value decodes as "{}" (JuiceFS substitutes "{}" for a missing
// field, which sessions of pre-1.0 clients lack).
func ParseSessionInfo[B Bytes](b B) (SessionInfo, error) {
	var s SessionInfo
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal([]byte(b), &s); err != nil {
		return SessionInfo{}, &CorruptError{What: "invalid session info JSON", Err: err}
	}
	return s, nil
}
