using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace Cairn.Iscsi.Scsi;

public sealed partial class ScsiBlockDevice
{
    // SPC-4 §6.4 EXTENDED COPY (LID1), limited to block→block copies inside this logical unit: the only copy target
    // is the unit itself, named by one of its VPD 0x83 logical-unit designators.
    private const int MaxCopyTargets = 2, MaxCopySegments = 8, MaxCopyListLength = 1024, MaxCopySegmentBlocks = 65535;
    private const int CopyHeaderLength = 16, TargetDescriptorLength = 32, BlockToBlockLength = 28;
    private const byte IdentificationTargetDescriptor = 0xE4, BlockToBlockSegment = 0x02;

    private static readonly Asc s_tooManyTargets = new(0x26, 0x06), s_unsupportedTarget = new(0x26, 0x07),
        s_tooManySegments = new(0x26, 0x08), s_unsupportedSegment = new(0x26, 0x09), s_copyTargetNotReachable = new(0x0D, 0x02);

    /// <summary>Results of held copy operations per (nexus, list id) for RECEIVE COPY RESULTS COPY STATUS.</summary>
    private readonly ConcurrentDictionary<(ScsiNexus Nexus, byte ListId), (byte Status, ushort Segments, long Bytes)> _copyResults = new();

    private ScsiResult CopyAborted(Asc asc) => Check(SenseKey.CopyAborted, asc);

    private ScsiResult ExtendedCopy(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, ScsiNexus nexus)
    {
        uint listLength = Be32(cdb, 10);
        if (listLength == 0) return ScsiResult.Good(0, 0);
        if (listLength < CopyHeaderLength || dataOut.Length < listLength) return ParameterListLengthError();
        var p = dataOut[..(int)listLength];
        byte listId = p[0];
        int listIdUsage = (p[1] >> 3) & 0x03;
        if ((p[1] & 0x20) != 0) return InvalidParameter(1, 5); // STR: no stream devices
        if (listIdUsage == 1) return InvalidParameter(1, 3); // 01b is reserved
        int tgtLen = Be16(p, 2);
        uint segLen = Be32(p, 8);
        uint inlineLen = Be32(p, 12);
        if (inlineLen != 0) return InvalidParameter(12);
        if ((long)tgtLen + segLen > MaxCopyListLength) return ParameterListLengthError();
        if (CopyHeaderLength + tgtLen + segLen > listLength) return ParameterListLengthError();
        if (tgtLen % TargetDescriptorLength != 0) return ParameterListLengthError();
        int targets = tgtLen / TargetDescriptorLength;
        if (targets > MaxCopyTargets) return Check(SenseKey.IllegalRequest, s_tooManyTargets);

        // Target descriptors: each must be an identification descriptor naming this logical unit.
        Span<bool> reachable = stackalloc bool[MaxCopyTargets];
        for (int i = 0; i < targets; i++)
        {
            var t = p.Slice(CopyHeaderLength + i * TargetDescriptorLength, TargetDescriptorLength);
            if (t[0] != IdentificationTargetDescriptor) return Check(SenseKey.IllegalRequest, s_unsupportedTarget);
            if ((t[1] & 0x1F) != 0) return Check(SenseKey.IllegalRequest, s_unsupportedTarget); // block devices only
            reachable[i] = NamesThisUnit(t.Slice(4, 24), nexus) && (Be32(t, 28) & 0x00FF_FFFF) == BlockSize;
        }

        // Segment descriptors: validate the whole list before copying anything.
        var segs = p.Slice(CopyHeaderLength + tgtLen, (int)segLen);
        int count = 0;
        for (int at = 0; at < segs.Length; count++)
        {
            if (segs.Length - at < 4) return ParameterListLengthError();
            if (segs[at] != BlockToBlockSegment) return Check(SenseKey.IllegalRequest, s_unsupportedSegment);
            int len = Be16(segs, at + 2) + 4;
            if (len != BlockToBlockLength || at + len > segs.Length) return ParameterListLengthError();
            at += len;
        }
        if (count > MaxCopySegments) return Check(SenseKey.IllegalRequest, s_tooManySegments);
        if (count > 0 && WriteProtected) return WriteProtectedResult();

        long copied = 0;
        ushort done = 0;
        for (int i = 0; i < count; i++)
        {
            var s = segs.Slice(i * BlockToBlockLength, BlockToBlockLength);
            if ((s[1] & 0x02) != 0) return CopyAborted(Asc.NoAdditionalSense); // DC: destination count mode unsupported
            int src = Be16(s, 4), dst = Be16(s, 6);
            if (src >= targets || dst >= targets || !reachable[src] || !reachable[dst])
                return Finish(CopyAborted(s_copyTargetNotReachable), 2);
            int blocks = Be16(s, 10);
            long srcLba = Be64(s, 12), dstLba = Be64(s, 20);
            if (OutOfRange(srcLba, blocks) || OutOfRange(dstLba, blocks))
                return Finish(CopyAborted(Asc.NoAdditionalSense), 2);
            CopyBlocks(srcLba, dstLba, blocks);
            copied += (long)blocks << BlockShift;
            done++;
        }
        return Finish(ScsiResult.Good(0, listLength), 1);

        ScsiResult Finish(ScsiResult r, byte status)
        {
            // LIST ID USAGE 00b: hold the results for RECEIVE COPY RESULTS; 10b/11b: nothing to hold.
            if (listIdUsage == 0) _copyResults[(nexus, listId)] = (status, done, copied);
            return r;
        }
    }

    private bool NamesThisUnit(ReadOnlySpan<byte> designator, in ScsiNexus nexus)
    {
        int len = designator[3];
        if (len > 20) return false;
        var ours = DeviceIdentification(nexus).AsSpan();
        for (int at = 0; at + 4 <= ours.Length; at += 4 + ours[at + 3])
        {
            var d = ours.Slice(at, 4 + ours[at + 3]);
            if (((d[1] >> 4) & 0x03) != 0) continue; // logical-unit designators only
            if ((d[1] & 0x0F) == (designator[1] & 0x0F) && d[3] == len && d[4..].SequenceEqual(designator.Slice(4, len))) return true;
        }
        return false;
    }

    private void CopyBlocks(long srcLba, long dstLba, int blocks)
    {
        const int ChunkBlocks = 256;
        var buf = ArrayPool<byte>.Shared.Rent(ChunkBlocks * BlockSize);
        EnterWrite();
        try
        {
            // Overlapping ranges copy as if through a buffer: walk backwards when the destination is ahead.
            bool backwards = dstLba > srcLba && dstLba < srcLba + blocks;
            for (int done = 0; done < blocks;)
            {
                int n = Math.Min(ChunkBlocks, blocks - done);
                int off = backwards ? blocks - done - n : done;
                var span = buf.AsSpan(0, n * BlockSize);
                _device.Read((srcLba + off) << BlockShift, span);
                _device.Write((dstLba + off) << BlockShift, span, fua: !_wce);
                done += n;
            }
        }
        finally
        {
            ExitWrite();
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    // SPC-4 §7.8.17 Third-party Copy VPD page: what the copy manager behind EXTENDED COPY (LID1) supports. The same
    // limits as RECEIVE COPY RESULTS OPERATING PARAMETERS; every descriptor length is a multiple of four.
    private static byte[] ThirdPartyCopy()
    {
        var b = new List<byte>(128);

        // 0001h Supported Commands: EXTENDED COPY (LID1) and the RECEIVE COPY RESULTS service actions served.
        ReadOnlySpan<byte> commands =
        [
            ScsiOp.ExtendedCopy, 1, 0x00,             // EXTENDED COPY (LID1)
            ScsiOp.ReceiveCopyResults, 2, 0x00, 0x03, // COPY STATUS, OPERATING PARAMETERS
        ];
        Span<byte> cmd = stackalloc byte[1 + commands.Length];
        cmd[0] = (byte)commands.Length;
        commands.CopyTo(cmd[1..]);
        CopyDescriptor(b, 0x0001, cmd);

        // 0004h Parameter Data.
        Span<byte> pd = stackalloc byte[0x1C];
        BinaryPrimitives.WriteUInt16BigEndian(pd[4..], MaxCopyTargets);
        BinaryPrimitives.WriteUInt16BigEndian(pd[6..], MaxCopySegments);
        BinaryPrimitives.WriteUInt32BigEndian(pd[8..], MaxCopyListLength);
        BinaryPrimitives.WriteUInt32BigEndian(pd[12..], 0); // maximum inline data length: no inline data
        CopyDescriptor(b, 0x0004, pd);

        // 0008h Supported Descriptors: the segment and CSCD descriptor types ExtendedCopy accepts.
        CopyDescriptor(b, 0x0008, [2, BlockToBlockSegment, IdentificationTargetDescriptor]);

        // 000Ch Supported CSCD Descriptor IDs: none above 07FFh (no null LU, no ROD, no "copy manager" id).
        CopyDescriptor(b, 0x000C, [0, 0]);

        // 8001h General Copy Operations.
        Span<byte> gc = stackalloc byte[0x20];
        BinaryPrimitives.WriteUInt32BigEndian(gc, 1);                                 // total concurrent copies
        BinaryPrimitives.WriteUInt32BigEndian(gc[4..], 1);                            // maximum identified concurrent copies
        BinaryPrimitives.WriteUInt32BigEndian(gc[8..], MaxCopySegmentBlocks * BlockSize); // maximum segment length
        gc[12] = BlockShift;                                                          // data segment granularity: 2^9
        gc[13] = 0;                                                                   // inline data granularity: none
        CopyDescriptor(b, 0x8001, gc);
        return [.. b];
    }

    private static void CopyDescriptor(List<byte> into, ushort type, ReadOnlySpan<byte> body)
    {
        int padded = (body.Length + 3) & ~3;
        into.Add((byte)(type >> 8));
        into.Add((byte)type);
        into.Add((byte)(padded >> 8));
        into.Add((byte)padded);
        foreach (var v in body) into.Add(v);
        for (int i = body.Length; i < padded; i++) into.Add(0);
    }

    // SPC-4 §6.18 RECEIVE COPY RESULTS: COPY STATUS (held results) and OPERATING PARAMETERS.
    private ScsiResult ReceiveCopyResults(ReadOnlySpan<byte> cdb, Span<byte> dataIn, in ScsiNexus nexus)
    {
        int sa = cdb[1] & 0x1F;
        byte listId = cdb[2];
        uint alloc = Be32(cdb, 10);
        if (sa == 0x00)
        {
            if (!_copyResults.TryGetValue((nexus, listId), out var r)) return InvalidField(2);
            Span<byte> b = stackalloc byte[12];
            BinaryPrimitives.WriteUInt32BigEndian(b, 8);
            b[4] = r.Status;
            BinaryPrimitives.WriteUInt16BigEndian(b[5..], r.Segments);
            b[7] = 0; // transfer count in bytes
            BinaryPrimitives.WriteUInt32BigEndian(b[8..], (uint)Math.Min(r.Bytes, uint.MaxValue));
            return DataIn(b, dataIn, alloc);
        }
        Span<byte> o = stackalloc byte[46];
        BinaryPrimitives.WriteUInt32BigEndian(o, (uint)(o.Length - 4));
        BinaryPrimitives.WriteUInt16BigEndian(o[8..], MaxCopyTargets);
        BinaryPrimitives.WriteUInt16BigEndian(o[10..], MaxCopySegments);
        BinaryPrimitives.WriteUInt32BigEndian(o[12..], MaxCopyListLength);
        BinaryPrimitives.WriteUInt32BigEndian(o[16..], MaxCopySegmentBlocks * BlockSize);
        BinaryPrimitives.WriteUInt16BigEndian(o[34..], 1); // total concurrent copies
        o[36] = 1;                                         // maximum concurrent copies
        o[37] = BlockShift;                                // data segment granularity: 2^9
        o[43] = 2;                                         // implemented descriptor list length
        o[44] = BlockToBlockSegment;
        o[45] = IdentificationTargetDescriptor;
        return DataIn(o, dataIn, alloc);
    }
}
