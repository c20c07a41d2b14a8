using System.Buffers;
using System.Buffers.Binary;

namespace Cairn.Iscsi.Protocol;

/// <summary>
/// Builds target PDUs (RFC 7143 §11) with big-endian fields. Builders fill a 48-byte BHS span; <see cref="Frame"/>
/// appends header digest, data segment, padding and data digest to an <see cref="IBufferWriter{T}"/>.
/// </summary>
public static class PduWriter
{
    /// <summary>Clears the BHS and sets opcode, flags and DataSegmentLength.</summary>
    public static void Init(Span<byte> bhs, IscsiOpcode op, byte flags, int dataLength)
    {
        bhs[..Pdu.BhsLength].Clear();
        bhs[0] = (byte)op;
        bhs[1] = flags;
        SetDataLength(bhs, dataLength);
    }

    public static void SetDataLength(Span<byte> bhs, int dataLength)
    {
        bhs[5] = (byte)(dataLength >> 16);
        bhs[6] = (byte)(dataLength >> 8);
        bhs[7] = (byte)dataLength;
    }

    public static void U32(Span<byte> bhs, int offset, uint v) => BinaryPrimitives.WriteUInt32BigEndian(bhs[offset..], v);
    public static void U16(Span<byte> bhs, int offset, ushort v) => BinaryPrimitives.WriteUInt16BigEndian(bhs[offset..], v);
    public static void U64(Span<byte> bhs, int offset, ulong v) => BinaryPrimitives.WriteUInt64BigEndian(bhs[offset..], v);

    /// <summary>StatSN, ExpCmdSN, MaxCmdSN at offsets 24/28/32, common to most target PDUs.</summary>
    public static void Sequence(Span<byte> bhs, uint statSn, uint expCmdSn, uint maxCmdSn)
    {
        U32(bhs, 24, statSn);
        U32(bhs, 28, expCmdSn);
        U32(bhs, 32, maxCmdSn);
    }

    /// <summary>Writes one PDU: BHS, [header digest], data, pad to 4, [data digest].</summary>
    public static void Frame(IBufferWriter<byte> w, ReadOnlySpan<byte> bhs, ReadOnlySpan<byte> data, bool headerDigest, bool dataDigest)
    {
        int padded = (data.Length + 3) & ~3;
        int total = Pdu.BhsLength + (headerDigest ? 4 : 0) + padded + (dataDigest && data.Length > 0 ? 4 : 0);
        var span = w.GetSpan(total);
        int n = FrameHeader(span, bhs, headerDigest);
        data.CopyTo(span[n..]);
        n += FinishData(span[n..], data.Length, dataDigest);
        w.Advance(n);
    }

    /// <summary>Copies the BHS (and its digest) into <paramref name="dest"/>; returns bytes written.</summary>
    public static int FrameHeader(Span<byte> dest, ReadOnlySpan<byte> bhs, bool headerDigest)
    {
        bhs[..Pdu.BhsLength].CopyTo(dest);
        if (!headerDigest) return Pdu.BhsLength;
        BinaryPrimitives.WriteUInt32LittleEndian(dest[Pdu.BhsLength..], Crc32C.Compute(dest[..Pdu.BhsLength]));
        return Pdu.BhsLength + 4;
    }

    /// <summary>
    /// Given <paramref name="length"/> data bytes already at the start of <paramref name="dataArea"/>, zero-pads to 4 and
    /// appends the data digest; returns the total bytes of the data part.
    /// </summary>
    public static int FinishData(Span<byte> dataArea, int length, bool dataDigest)
    {
        int padded = (length + 3) & ~3;
        dataArea[length..padded].Clear();
        if (!dataDigest || length == 0) return padded;
        BinaryPrimitives.WriteUInt32LittleEndian(dataArea[padded..], Crc32C.Compute(dataArea[..padded]));
        return padded + 4;
    }

    /// <summary>Bytes a PDU with <paramref name="dataLength"/> data bytes takes on the wire.</summary>
    public static int WireLength(int dataLength, bool headerDigest, bool dataDigest)
        => Pdu.BhsLength + (headerDigest ? 4 : 0) + ((dataLength + 3) & ~3) + (dataDigest && dataLength > 0 ? 4 : 0);
}
