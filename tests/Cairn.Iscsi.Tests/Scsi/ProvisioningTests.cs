using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class ProvisioningTests
{
    private static List<(long Lba, uint Blocks, byte Status)> LbaStatus(ScsiHarness h, long lba)
    {
        var r = h.Run(Cdb.GetLbaStatus(lba));
        r.AssertGood();
        int len = (int)BinaryPrimitives.ReadUInt32BigEndian(r.Data) + 4;
        var list = new List<(long, uint, byte)>();
        for (int at = 8; at + 16 <= len; at += 16)
            list.Add((BinaryPrimitives.ReadInt64BigEndian(r.Data.AsSpan(at)), BinaryPrimitives.ReadUInt32BigEndian(r.Data.AsSpan(at + 8)), (byte)(r.Data[at + 12] & 0x0F)));
        return list;
    }

    [Fact]
    public void Unmap_frees_whole_chunks_and_the_range_reads_as_zeros()
    {
        using var h = new ScsiHarness();
        h.WriteBlocks(0, ScsiHarness.Pattern(64, 1));
        long before = h.Device.AllocatedBytes;
        var (c, d) = Cdb.Unmap((8, 16), (40, 8));
        h.Run(c, d).AssertGood();
        Assert.Equal(before - 24 * 512, h.Device.AllocatedBytes);
        Assert.Equal(new byte[16 * 512], h.ReadBlocks(8, 16));
        Assert.Equal(ScsiHarness.Pattern(64, 1).AsSpan(0, 8 * 512).ToArray(), h.ReadBlocks(0, 8));
    }

    [Fact]
    public void Get_lba_status_reports_mapped_and_deallocated_extents()
    {
        using var h = new ScsiHarness(blocks: 1024);
        h.WriteBlocks(16, ScsiHarness.Pattern(16, 1));
        var s = LbaStatus(h, 0);
        Assert.Equal([(0L, 16u, (byte)1), (16L, 16u, (byte)0), (32L, 992u, (byte)1)], s);
        var (c, d) = Cdb.Unmap((16, 8));
        h.Run(c, d).AssertGood();
        Assert.Equal((16L, 8u, (byte)1), LbaStatus(h, 0)[0] with { Lba = 16, Blocks = 8 });
        Assert.Equal((24L, 8u, (byte)0), LbaStatus(h, 24)[0]);
        h.Run(Cdb.GetLbaStatus(1024)).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
    }

    [Fact]
    public void Unmap_parameter_list_is_validated_before_anything_is_freed()
    {
        using var h = new ScsiHarness(blocks: 1024, options: new ScsiBlockDeviceOptions { MaxUnmapDescriptors = 2 });
        h.WriteBlocks(0, ScsiHarness.Pattern(16, 1));
        long before = h.Device.AllocatedBytes;
        var (c, d) = Cdb.Unmap((0, 8), (1020, 8));
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
        Assert.Equal(before, h.Device.AllocatedBytes);
        (c, d) = Cdb.Unmap((0, 8), (8, 8), (16, 8));
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInParameterList);
        (c, _) = Cdb.Unmap((0, 8));
        c[8] = 4;
        h.Run(c, new byte[4]).AssertCheck(SenseKey.IllegalRequest, Asc.ParameterListLengthError);
        (c, d) = Cdb.Unmap((0, 8));
        c[1] = 1; // ANCHOR without ANC_SUP
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        (c, _) = Cdb.Unmap();
        c[8] = 0;
        h.Run(c, []).AssertGood(); // parameter list length 0: nothing to do
        Assert.Equal(before, h.Device.AllocatedBytes);
    }

    [Fact]
    public void Write_same_with_unmap_and_zeros_frees_space()
    {
        using var h = new ScsiHarness();
        h.WriteBlocks(0, ScsiHarness.Pattern(32, 1));
        h.Run(Cdb.WriteSame16(0, 32, unmap: true), new byte[512]).AssertGood();
        Assert.Equal(0, h.Device.AllocatedBytes);
        h.WriteBlocks(0, ScsiHarness.Pattern(32, 1));
        h.Run(Cdb.WriteSame16(0, 32, unmap: true, ndob: true), null, edtl: 0).AssertGood();
        Assert.Equal(0, h.Device.AllocatedBytes);
        Assert.Equal(new byte[32 * 512], h.ReadBlocks(0, 32));
    }

    [Fact]
    public void Write_same_with_unmap_deallocates_even_with_a_nonzero_pattern()
    {
        using var h = new ScsiHarness();
        h.WriteBlocks(0, ScsiHarness.Pattern(16, 1));
        var ones = new byte[512];
        ones.AsSpan().Fill(0xFF);
        h.Run(Cdb.WriteSame10(0, 16, unmap: true), ones).AssertGood();
        Assert.Equal(0, h.Device.AllocatedBytes);
        Assert.Equal(new byte[16 * 512], h.ReadBlocks(0, 16));
    }

    [Fact]
    public void Write_same_repeats_the_block_over_the_range()
    {
        using var h = new ScsiHarness();
        var block = ScsiHarness.Pattern(1, 7);
        h.Run(Cdb.WriteSame10(10, 5), block).AssertGood();
        var read = h.ReadBlocks(10, 5);
        for (int i = 0; i < 5; i++) Assert.Equal(block, read.AsSpan(i * 512, 512).ToArray());
    }

    [Fact]
    public void Write_same_of_zero_blocks_runs_to_the_end_within_the_maximum_length()
    {
        using var h = new ScsiHarness(blocks: 1024, options: new ScsiBlockDeviceOptions { MaxWriteSameBlocks = 512 });
        h.Run(Cdb.WriteSame10(0, 0), new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        var block = ScsiHarness.Pattern(1, 3);
        h.Run(Cdb.WriteSame10(1024 - 512, 0), block).AssertGood();
        Assert.Equal(block, h.ReadBlocks(1023, 1));
        h.Run(Cdb.WriteSame16(1000, 0, unmap: true), new byte[512]).AssertGood();
        Assert.Equal(new byte[512], h.ReadBlocks(1023, 1));
    }

    [Fact]
    public void Write_same_refuses_anchor_and_a_wrong_data_out_size()
    {
        using var h = new ScsiHarness();
        var anchor = Cdb.WriteSame16(0, 8, unmap: true);
        anchor[1] |= 0x10;
        h.Run(anchor, new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        Assert.Equal(SenseKey.IllegalRequest, h.Run(Cdb.WriteSame10(0, 1), new byte[256]).Key);
        Assert.Equal(SenseKey.IllegalRequest, h.Run(Cdb.WriteSame10(0, 1), new byte[1024]).Key);
        h.Run(Cdb.WriteSame16(8191, 2), new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
    }

    [Fact]
    public void Sanitize_block_erase_deallocates_the_whole_medium()
    {
        using var h = new ScsiHarness();
        h.WriteBlocks(0, ScsiHarness.Pattern(16, 1));
        h.WriteBlocks(8000, ScsiHarness.Pattern(16, 1));
        h.Run([0x48, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]).AssertGood();
        Assert.Equal(0, h.Device.AllocatedBytes);
        h.Run([0x48, 0x02, 0, 0, 0, 0, 0, 0, 8, 0], new byte[8]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        h.Run([0x48, 0x05, 0, 0, 0, 0, 0, 0, 0, 0]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }
}
