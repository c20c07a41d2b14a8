using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class ExtendedCopyTests
{
    /// <summary>An identification target descriptor naming the unit by its NAA designator from VPD 0x83.</summary>
    private static byte[] TargetDescriptor(ScsiHarness h)
    {
        var vpd = h.Run(Cdb.Inquiry(true, 0x83, 1024)).Data;
        int at = 4;
        while ((vpd[at + 1] & 0x0F) != 3) at += 4 + vpd[at + 3];
        var t = new byte[32];
        t[0] = 0xE4;
        vpd.AsSpan(at, 4 + vpd[at + 3]).CopyTo(t.AsSpan(4));
        t[31] = 0x00; t[30] = 0x02; // block length 512
        return t;
    }

    private static byte[] Segment(int src, int dst, ushort blocks, long srcLba, long dstLba)
    {
        var s = new byte[28];
        s[0] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(2), 24);
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(4), (ushort)src);
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(6), (ushort)dst);
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(10), blocks);
        BinaryPrimitives.WriteInt64BigEndian(s.AsSpan(12), srcLba);
        BinaryPrimitives.WriteInt64BigEndian(s.AsSpan(20), dstLba);
        return s;
    }

    private static (byte[] Cdb, byte[] Data) Xcopy(byte listId, byte[][] targets, byte[][] segments, byte usage = 0)
    {
        var t = targets.SelectMany(x => x).ToArray();
        var s = segments.SelectMany(x => x).ToArray();
        var d = new byte[16 + t.Length + s.Length];
        d[0] = listId;
        d[1] = (byte)(usage << 3);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), (ushort)t.Length);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(8), (uint)s.Length);
        t.CopyTo(d, 16);
        s.CopyTo(d, 16 + t.Length);
        var c = new byte[16];
        c[0] = 0x83;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), (uint)d.Length);
        return (c, d);
    }

    private static byte[] CopyResults(byte sa, byte listId) => [0x84, sa, listId, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];

    [Fact]
    public void Extended_copy_copies_blocks_within_the_unit_and_holds_the_status()
    {
        using var h = new ScsiHarness();
        var data = ScsiHarness.Pattern(100, 9);
        h.WriteBlocks(0, data);
        var (c, d) = Xcopy(7, [TargetDescriptor(h)], [Segment(0, 0, 100, 0, 5000)]);
        h.Run(c, d).AssertGood();
        Assert.Equal(data, h.ReadBlocks(5000, 100));
        var st = h.Run(CopyResults(0x00, 7)).Data;
        Assert.Equal(1, st[4] & 0x7F);
        Assert.Equal(100u * 512, BinaryPrimitives.ReadUInt32BigEndian(st.AsSpan(8)));
        h.Run(CopyResults(0x00, 8)).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public void Extended_copy_to_an_unknown_target_or_beyond_the_end_is_copy_aborted()
    {
        using var h = new ScsiHarness(blocks: 1024);
        var (c, d) = Xcopy(1, [TargetDescriptor(h)], [Segment(0, 1, 8, 0, 100)]);
        Assert.Equal(SenseKey.CopyAborted, h.Run(c, d).Key);
        (c, d) = Xcopy(1, [TargetDescriptor(h)], [Segment(0, 0, 8, 0, 1020)]);
        Assert.Equal(SenseKey.CopyAborted, h.Run(c, d).Key);
        var other = TargetDescriptor(h);
        other[10] ^= 0xFF;
        (c, d) = Xcopy(1, [other], [Segment(0, 0, 8, 0, 100)]);
        Assert.Equal(SenseKey.CopyAborted, h.Run(c, d).Key);
    }

    [Fact]
    public void Extended_copy_descriptor_limits_and_types_are_enforced()
    {
        using var h = new ScsiHarness();
        var op = h.Run(CopyResults(0x03, 0)).Data;
        int maxTargets = BinaryPrimitives.ReadUInt16BigEndian(op.AsSpan(8));
        int maxSegments = BinaryPrimitives.ReadUInt16BigEndian(op.AsSpan(10));
        var t = TargetDescriptor(h);
        var (c, d) = Xcopy(1, Enumerable.Repeat(t, maxTargets + 1).ToArray(), [Segment(0, 0, 1, 0, 10)]);
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, new Asc(0x26, 0x06));
        (c, d) = Xcopy(1, [t], Enumerable.Repeat(Segment(0, 0, 1, 0, 10), maxSegments + 1).ToArray());
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, new Asc(0x26, 0x08));
        var bad = (byte[])t.Clone();
        bad[0] = 0xE0;
        (c, d) = Xcopy(1, [bad], [Segment(0, 0, 1, 0, 10)]);
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, new Asc(0x26, 0x07));
        (c, d) = Xcopy(1, [t], [Segment(0, 0, 1, 0, 10)]);
        h.Run(c, d.AsSpan(0, d.Length - 1).ToArray()).AssertCheck(SenseKey.IllegalRequest, Asc.ParameterListLengthError);
    }
}
