using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Cairn.Iscsi.Protocol;

/// <summary>Outcome of <see cref="PduParser.TryParse"/>.</summary>
public enum ParseStatus
{
    /// <summary>A whole PDU was read and the buffer advanced past it.</summary>
    Complete,
    /// <summary>Not enough bytes yet; the buffer is unchanged.</summary>
    NeedMoreData,
    /// <summary>The stream is broken (see <see cref="PduError"/>); at ErrorRecoveryLevel 0 the connection is dropped.</summary>
    Error,
}

/// <summary>Why a PDU could not be read.</summary>
public enum PduError
{
    None,
    /// <summary>DataSegmentLength exceeds what we declared in MaxRecvDataSegmentLength.</summary>
    DataSegmentTooLong,
    HeaderDigest,
    DataDigest,
}

/// <summary>What the receiver currently accepts: our declared MaxRecvDataSegmentLength and the negotiated digests.</summary>
public readonly record struct PduLimits(int MaxDataSegmentLength, bool HeaderDigest, bool DataDigest)
{
    /// <summary>During login: 8192 bytes (RFC 7143 §13.12 default), no digests.</summary>
    public static PduLimits Login => new(8192, false, false);
}

/// <summary>
/// Frames PDUs out of a byte stream (RFC 7143 §11.2): BHS, AHS, optional header digest, data segment padded to 4 bytes,
/// optional data digest. Pure: no I/O, returns <see cref="ParseStatus.NeedMoreData"/> for a partial PDU.
/// The data segment length is checked against the limit as soon as the BHS is in, before anything is buffered.
/// </summary>
public static class PduParser
{
    /// <summary>Reads one PDU from the front of <paramref name="buffer"/> into <paramref name="pdu"/>.</summary>
    public static ParseStatus TryParse(ref ReadOnlySequence<byte> buffer, in PduLimits limits, Pdu pdu, out PduError error)
    {
        error = PduError.None;
        if (buffer.Length < Pdu.BhsLength) return ParseStatus.NeedMoreData;
        var h = pdu.Header;
        if (buffer.FirstSpan.Length >= Pdu.BhsLength) buffer.FirstSpan[..Pdu.BhsLength].CopyTo(h);
        else buffer.Slice(0, Pdu.BhsLength).CopyTo(h);

        int ahs = pdu.TotalAhsLength;
        int dsl = pdu.DataSegmentLength;
        if (dsl > limits.MaxDataSegmentLength) return Fail(PduError.DataSegmentTooLong, out error);

        int headerLen = Pdu.BhsLength + ahs;
        int hd = limits.HeaderDigest ? 4 : 0;
        int padded = (dsl + 3) & ~3;
        int dd = limits.DataDigest && dsl > 0 ? 4 : 0;
        long total = (long)headerLen + hd + padded + dd;
        if (buffer.Length < total) return ParseStatus.NeedMoreData;

        if (hd != 0)
        {
            uint crc = Crc32C.Compute(buffer.Slice(0, headerLen));
            if (crc != ReadDigest(buffer.Slice(headerLen, 4))) return Fail(PduError.HeaderDigest, out error);
        }
        if (dd != 0)
        {
            uint crc = Crc32C.Compute(buffer.Slice(headerLen + hd, padded));
            if (crc != ReadDigest(buffer.Slice(headerLen + hd + padded, 4))) return Fail(PduError.DataDigest, out error);
        }
        pdu.Ahs = ahs == 0 ? default : buffer.Slice(Pdu.BhsLength, ahs);
        pdu.Data = dsl == 0 ? default : buffer.Slice(headerLen + hd, dsl);
        buffer = buffer.Slice(total);
        return ParseStatus.Complete;
    }

    // RFC 7143 §13.1 / RFC 3720 B.4: the digest travels least-significant byte first.
    private static uint ReadDigest(ReadOnlySequence<byte> four)
    {
        Span<byte> b = stackalloc byte[4];
        four.CopyTo(b);
        return (uint)(b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24));
    }

    private static ParseStatus Fail(PduError e, out PduError error)
    {
        error = e;
        return ParseStatus.Error;
    }
}
