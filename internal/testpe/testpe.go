// Package testpe builds the smallest PE images debug/pe (and Windows'
// loader's header checks) accept, for tests that need stand-in agents of a
// given machine type and subsystem without cross-compiling one.
package testpe

import (
	"bytes"
	"encoding/binary"
)

// Machine types and subsystems (winnt.h).
const (
	MachineAMD64   uint16 = 0x8664
	MachineARM64   uint16 = 0xAA64
	MachineI386    uint16 = 0x014c
	SubsystemGUI   uint16 = 2
	SubsystemCUI   uint16 = 3
	characteristic        = 0x0002 | 0x0020 // IMAGE_FILE_EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
	peOffset              = 0x40
)

// Build returns a PE32+ image header for machine and subsystem (no
// sections) followed by payload, which lets tests tell images apart.
func Build(machine, subsystem uint16, payload []byte) []byte {
	var b bytes.Buffer
	dos := make([]byte, peOffset)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], peOffset)
	b.Write(dos)
	b.WriteString("PE\x00\x00")
	const optSize = 112 + 16*8 // PE32+ optional header with 16 data directories
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	// COFF file header.
	le(machine)
	le(uint16(0))       // NumberOfSections
	le(uint32(0))       // TimeDateStamp
	le(uint32(0))       // PointerToSymbolTable
	le(uint32(0))       // NumberOfSymbols
	le(uint16(optSize)) // SizeOfOptionalHeader
	le(uint16(characteristic))
	// Optional header (PE32+).
	opt := make([]byte, optSize)
	binary.LittleEndian.PutUint16(opt[0:], 0x20b)        // Magic
	binary.LittleEndian.PutUint64(opt[24:], 0x140000000) // ImageBase
	binary.LittleEndian.PutUint32(opt[32:], 0x1000)      // SectionAlignment
	binary.LittleEndian.PutUint32(opt[36:], 0x200)       // FileAlignment
	binary.LittleEndian.PutUint16(opt[40:], 6)           // MajorOperatingSystemVersion
	binary.LittleEndian.PutUint16(opt[48:], 6)           // MajorSubsystemVersion
	binary.LittleEndian.PutUint32(opt[56:], 0x1000)      // SizeOfImage
	binary.LittleEndian.PutUint32(opt[60:], 0x200)       // SizeOfHeaders
	binary.LittleEndian.PutUint16(opt[68:], subsystem)   // Subsystem
	binary.LittleEndian.PutUint32(opt[108:], 16)         // NumberOfRvaAndSizes
	b.Write(opt)
	b.Write(payload)
	return b.Bytes()
}

// Agent is a stand-in avd-agent for machine: console subsystem, payload
// "fake avd-agent for <arch>".
func Agent(machine uint16, arch string) []byte {
	return Build(machine, SubsystemCUI, []byte("fake avd-agent for "+arch))
}
