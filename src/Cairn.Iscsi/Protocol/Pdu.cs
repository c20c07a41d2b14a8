using System.Buffers;
using System.Buffers.Binary;

namespace Cairn.Iscsi.Protocol;

/// <summary>iSCSI opcodes (RFC 7143 §11.2.1.2).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1028", Justification = "The opcode is one byte of the BHS (RFC 7143 section 11.2.1.2).")]
public enum IscsiOpcode : byte
{
    NopOut = 0x00,
    ScsiCommand = 0x01,
    TaskManagementRequest = 0x02,
    LoginRequest = 0x03,
    TextRequest = 0x04,
    DataOut = 0x05,
    LogoutRequest = 0x06,
    Snack = 0x10,
    NopIn = 0x20,
    ScsiResponse = 0x21,
    TaskManagementResponse = 0x22,
    LoginResponse = 0x23,
    TextResponse = 0x24,
    DataIn = 0x25,
    LogoutResponse = 0x26,
    ReadyToTransfer = 0x31,
    AsyncMessage = 0x32,
    Reject = 0x3F,
}

/// <summary>Reject reasons (RFC 7143 §11.17.1).</summary>
public static class RejectReason
{
    public const byte DataDigestError = 0x02;
    public const byte SnackReject = 0x03;
    public const byte ProtocolError = 0x04;
    public const byte CommandNotSupported = 0x05;
    public const byte ImmediateCommandReject = 0x06;
    public const byte TaskInProgress = 0x07;
    public const byte InvalidDataAck = 0x08;
    public const byte InvalidPduField = 0x09;
    public const byte LongOperationReject = 0x0A;
    public const byte WaitingForLogout = 0x0C;
}

/// <summary>
/// One received PDU: a copy of the 48-byte Basic Header Segment plus slices of the AHS and data segment
/// (RFC 7143 §11.2). The slices point into the reader's buffer and are valid only until the caller advances it.
/// A connection reuses one instance, so parsing allocates nothing.
/// </summary>
public sealed class Pdu
{
    /// <summary>BHS length in bytes.</summary>
    public const int BhsLength = 48;

    /// <summary>The Basic Header Segment.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1819", Justification = "The BHS is a fixed 48-byte buffer that the parser and writers index in place.")]
    public byte[] Header { get; } = new byte[BhsLength];

    /// <summary>Additional Header Segments (TotalAHSLength × 4 bytes).</summary>
    public ReadOnlySequence<byte> Ahs { get; internal set; }

    /// <summary>The data segment without padding or digest.</summary>
    public ReadOnlySequence<byte> Data { get; internal set; }

    public IscsiOpcode Opcode => (IscsiOpcode)(Header[0] & 0x3F);
    public bool Immediate => (Header[0] & 0x40) != 0;
    public byte Flags => Header[1];
    public bool Final => (Header[1] & 0x80) != 0;
    public int TotalAhsLength => Header[4] * 4;
    public int DataSegmentLength => (Header[5] << 16) | (Header[6] << 8) | Header[7];
    public ulong Lun => BinaryPrimitives.ReadUInt64BigEndian(Header.AsSpan(8));
    public uint InitiatorTaskTag => U32(16);

    /// <summary>A big-endian 32-bit field at <paramref name="offset"/>.</summary>
    public uint U32(int offset) => BinaryPrimitives.ReadUInt32BigEndian(Header.AsSpan(offset));

    /// <summary>A big-endian 16-bit field at <paramref name="offset"/>.</summary>
    public ushort U16(int offset) => BinaryPrimitives.ReadUInt16BigEndian(Header.AsSpan(offset));
}
