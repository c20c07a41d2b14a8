using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

/// <summary>What one command returned: the result and the data-in bytes it produced.</summary>
public sealed record Reply(ScsiResult Result, byte[] Data)
{
    public byte Status => Result.Status;
    public byte Key => ScsiSense.KeyOf(Result.Sense.Span);
    public Asc Asc => ScsiSense.AscOf(Result.Sense.Span);
    public byte[] Sense => Result.Sense.ToArray();
    public bool Good => Status == ScsiStatus.Good;

    /// <summary>Sense-key-specific bytes of fixed-format sense (SKSV, field pointer).</summary>
    public (bool Valid, bool InCdb, int Field, int Bit) FieldPointer
    {
        get
        {
            var s = Sense;
            if (s.Length < 18 || (s[15] & 0x80) == 0) return (false, false, -1, -1);
            return (true, (s[15] & 0x40) != 0, BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(16)), (s[15] & 0x08) != 0 ? s[15] & 0x07 : -1);
        }
    }

    public void AssertGood() => Assert.True(Good, $"status {Status:x2} sense {Convert.ToHexString(Sense)}");

    public void AssertCheck(byte key, Asc asc)
    {
        Assert.Equal(ScsiStatus.CheckCondition, Status);
        Assert.Equal(key, Key);
        Assert.Equal(asc, Asc);
    }
}

/// <summary>A logical unit over a memory device, driven by raw CDBs from two I_T nexuses.</summary>
public sealed class ScsiHarness : IDisposable
{
    public static readonly ScsiNexus A = new("iqn.2026-01.test:initiator1", 0x23d000000001, "iqn.2026-01.io.cairn:t1", 1);
    public static readonly ScsiNexus B = new("iqn.2026-01.test:initiator2", 0x23d000000002, "iqn.2026-01.io.cairn:t1", 1);

    public MemoryBlockDevice Device { get; }
    public ScsiBlockDevice Unit { get; }

    public ScsiHarness(long blocks = 8192, int granularity = 4096, bool readOnly = false, ScsiBlockDeviceOptions? options = null, bool clearAttentions = true)
    {
        Device = new MemoryBlockDevice(blocks * 512, granularity, readOnly);
        Unit = new ScsiBlockDevice(Device, options);
        if (clearAttentions) { ClearAttentions(A); ClearAttentions(B); }
    }

    public Reply Run(byte[] cdb, byte[]? dataOut = null, int allocation = 65536, ScsiNexus? nexus = null, uint? edtl = null)
    {
        var n = nexus ?? A;
        var outLen = Unit.DataOutLength(cdb);
        var data = dataOut ?? [];
        uint expected = edtl ?? (dataOut is not null ? (uint)data.Length : (uint)allocation);
        var collected = data.AsSpan(0, (int)Math.Min(Math.Min(outLen, expected), data.Length));
        var dataIn = new byte[dataOut is null ? Math.Min(allocation, (int)expected) : 0];
        var info = new ScsiCommandInfo(expected, dataOut is null, dataOut is not null, n);
        var r = Unit.Execute(cdb, collected, dataIn, info);
        Assert.InRange(r.DataInLength, 0, dataIn.Length);
        if (r.Status != ScsiStatus.CheckCondition) Assert.True(r.Sense.IsEmpty);
        else Assert.False(r.Sense.IsEmpty);
        return new Reply(r, dataIn.AsSpan(0, r.DataInLength).ToArray());
    }

    public void ClearAttentions(ScsiNexus nexus)
    {
        for (int i = 0; i < 16; i++)
            if (Run(Cdb.TestUnitReady(), nexus: nexus).Status == ScsiStatus.Good) return;
        Assert.Fail("unit attentions never cleared");
    }

    public byte[] ReadBlocks(long lba, int blocks, ScsiNexus? nexus = null)
    {
        var r = Run(Cdb.Read16(lba, (uint)blocks), allocation: blocks * 512, nexus: nexus);
        r.AssertGood();
        return r.Data;
    }

    public void WriteBlocks(long lba, byte[] data, ScsiNexus? nexus = null) =>
        Run(Cdb.Write16(lba, (uint)(data.Length / 512)), data, nexus: nexus).AssertGood();

    public static byte[] Pattern(int blocks, byte seed)
    {
        var b = new byte[blocks * 512];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(seed + i * 7 + (i >> 9));
        return b;
    }

    public void Dispose() => Unit.Dispose();
}

/// <summary>CDB builders (SPC-4 / SBC-3 layouts).</summary>
public static class Cdb
{
    public static byte[] TestUnitReady() => new byte[6];
    public static byte[] RequestSense(byte alloc = 252, bool desc = false) => [0x03, (byte)(desc ? 1 : 0), 0, 0, alloc, 0];
    public static byte[] Inquiry(bool evpd = false, byte page = 0, ushort alloc = 255)
        => [0x12, (byte)(evpd ? 1 : 0), page, (byte)(alloc >> 8), (byte)alloc, 0];

    public static byte[] Read6(uint lba, byte blocks) => [0x08, (byte)((lba >> 16) & 0x1F), (byte)(lba >> 8), (byte)lba, blocks, 0];
    public static byte[] Write6(uint lba, byte blocks) => [0x0A, (byte)((lba >> 16) & 0x1F), (byte)(lba >> 8), (byte)lba, blocks, 0];

    public static byte[] Rw10(byte op, uint lba, ushort blocks, byte flags = 0)
    {
        var c = new byte[10];
        c[0] = op; c[1] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), blocks);
        return c;
    }

    public static byte[] Rw12(byte op, uint lba, uint blocks, byte flags = 0)
    {
        var c = new byte[12];
        c[0] = op; c[1] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), blocks);
        return c;
    }

    public static byte[] Rw16(byte op, long lba, uint blocks, byte flags = 0)
    {
        var c = new byte[16];
        c[0] = op; c[1] = flags;
        BinaryPrimitives.WriteInt64BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), blocks);
        return c;
    }

    public static byte[] Read10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x28, lba, blocks, flags);
    public static byte[] Write10(uint lba, ushort blocks, byte flags = 0) => Rw10(0x2A, lba, blocks, flags);
    public static byte[] Read16(long lba, uint blocks, byte flags = 0) => Rw16(0x88, lba, blocks, flags);
    public static byte[] Write16(long lba, uint blocks, byte flags = 0) => Rw16(0x8A, lba, blocks, flags);
    public static byte[] Verify16(long lba, uint blocks, byte bytchk) => Rw16(0x8F, lba, blocks, (byte)(bytchk << 1));
    public static byte[] WriteSame16(long lba, uint blocks, bool unmap = false, bool ndob = false)
        => Rw16(0x93, lba, blocks, (byte)((unmap ? 0x08 : 0) | (ndob ? 0x01 : 0)));
    public static byte[] WriteSame10(uint lba, ushort blocks, bool unmap = false) => Rw10(0x41, lba, blocks, (byte)(unmap ? 0x08 : 0));

    public static byte[] CompareAndWrite(long lba, byte blocks, byte flags = 0)
    {
        var c = new byte[16];
        c[0] = 0x89; c[1] = flags;
        BinaryPrimitives.WriteInt64BigEndian(c.AsSpan(2), lba);
        c[13] = blocks;
        return c;
    }

    public static byte[] SynchronizeCache10() => new byte[] { 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

    public static byte[] ReadCapacity10() => [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    public static byte[] ReadCapacity16(uint alloc = 32)
    {
        var c = new byte[16];
        c[0] = 0x9E; c[1] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), alloc);
        return c;
    }

    public static byte[] GetLbaStatus(long lba, uint alloc = 4096)
    {
        var c = new byte[16];
        c[0] = 0x9E; c[1] = 0x12;
        BinaryPrimitives.WriteInt64BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(10), alloc);
        return c;
    }

    public static (byte[] Cdb, byte[] Data) Unmap(params (long Lba, uint Blocks)[] extents)
    {
        var data = new byte[8 + 16 * extents.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)(data.Length - 2));
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(2), (ushort)(16 * extents.Length));
        for (int i = 0; i < extents.Length; i++)
        {
            BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(8 + 16 * i), extents[i].Lba);
            BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(16 + 16 * i), extents[i].Blocks);
        }
        var c = new byte[10];
        c[0] = 0x42;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), (ushort)data.Length);
        return (c, data);
    }

    public static byte[] ModeSense6(byte page, byte pc = 0, bool dbd = false, byte alloc = 255, byte subpage = 0)
        => [0x1A, (byte)(dbd ? 0x08 : 0), (byte)((pc << 6) | page), subpage, alloc, 0];

    public static byte[] ModeSense10(byte page, byte pc = 0, bool llbaa = false, ushort alloc = 1024)
        => [0x5A, (byte)(llbaa ? 0x10 : 0), (byte)((pc << 6) | page), 0, 0, 0, 0, (byte)(alloc >> 8), (byte)alloc, 0];

    public static byte[] ModeSelect6(byte length) => [0x15, 0x10, 0, 0, length, 0];

    public static byte[] ReportLuns(uint alloc = 1024)
    {
        var c = new byte[12];
        c[0] = 0xA0;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), alloc);
        return c;
    }

    public static byte[] ReportSupportedOpcodes(byte options = 0, byte op = 0, ushort sa = 0, bool rctd = false, uint alloc = 8192)
    {
        var c = new byte[12];
        c[0] = 0xA3; c[1] = 0x0C; c[2] = (byte)((rctd ? 0x80 : 0) | options); c[3] = op;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(4), sa);
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(6), alloc);
        return c;
    }

    public static byte[] Reserve6() => [0x16, 0, 0, 0, 0, 0];
    public static byte[] Release6() => [0x17, 0, 0, 0, 0, 0];

    public static byte[] PrIn(byte sa, ushort alloc = 1024) => [0x5E, sa, 0, 0, 0, 0, 0, (byte)(alloc >> 8), (byte)alloc, 0];

    public static (byte[] Cdb, byte[] Data) PrOut(byte sa, ulong key, ulong saKey, byte type = 0, byte flags = 0)
    {
        var c = new byte[10];
        c[0] = 0x5F; c[1] = sa; c[2] = type;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(5), 24);
        var d = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(d, key);
        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(8), saKey);
        d[20] = flags;
        return (c, d);
    }
}
