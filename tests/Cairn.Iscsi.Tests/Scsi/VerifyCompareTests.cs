using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class VerifyCompareTests
{
    [Fact]
    public void Verify_with_bytchk_reports_miscompare_at_the_first_differing_byte()
    {
        using var h = new ScsiHarness();
        var data = ScsiHarness.Pattern(2, 5);
        h.WriteBlocks(8, data);
        h.Run(Cdb.Verify16(8, 2, bytchk: 1), data).AssertGood();
        var bad = (byte[])data.Clone();
        bad[700] ^= 1;
        var r = h.Run(Cdb.Verify16(8, 2, bytchk: 1), bad);
        r.AssertCheck(SenseKey.Miscompare, Asc.MiscompareDuringVerify);
        Assert.Equal(700u, BinaryPrimitives.ReadUInt32BigEndian(r.Sense.AsSpan(3)));
        Assert.Equal(0x80, r.Sense[0] & 0x80); // VALID
        h.Run(Cdb.Verify16(8, 2, bytchk: 0), null).AssertGood();
    }

    [Fact]
    public void Verify_bytchk_3_compares_one_block_against_every_block()
    {
        using var h = new ScsiHarness();
        var block = ScsiHarness.Pattern(1, 2);
        h.WriteBlocks(0, [.. block, .. block, .. block]);
        h.Run(Cdb.Verify16(0, 3, bytchk: 3), block).AssertGood();
        h.Run(Cdb.Verify16(0, 4, bytchk: 3), block).AssertCheck(SenseKey.Miscompare, Asc.MiscompareDuringVerify);
        h.Run(Cdb.Verify16(0, 1, bytchk: 2), block).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public void Compare_and_write_writes_when_the_medium_matches_and_reports_the_miscompare_offset_otherwise()
    {
        using var h = new ScsiHarness();
        var old = ScsiHarness.Pattern(1, 1);
        var neu = ScsiHarness.Pattern(1, 2);
        h.WriteBlocks(3, old);
        h.Run(Cdb.CompareAndWrite(3, 1), [.. old, .. neu]).AssertGood();
        Assert.Equal(neu, h.ReadBlocks(3, 1));
        var wrong = (byte[])neu.Clone();
        wrong[100] ^= 0xFF;
        var r = h.Run(Cdb.CompareAndWrite(3, 1), [.. wrong, .. old]);
        r.AssertCheck(SenseKey.Miscompare, Asc.MiscompareDuringVerify);
        Assert.Equal(100u, BinaryPrimitives.ReadUInt32BigEndian(r.Sense.AsSpan(3)));
        Assert.Equal(neu, h.ReadBlocks(3, 1));
    }

    [Fact]
    public void Compare_and_write_with_the_wrong_data_out_size_is_an_illegal_request()
    {
        using var h = new ScsiHarness();
        h.Run(Cdb.CompareAndWrite(0, 1), new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        h.Run(Cdb.CompareAndWrite(0, 1), new byte[2048]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        h.Run(Cdb.CompareAndWrite(0, 0), new byte[1024]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        h.Run(Cdb.CompareAndWrite(0, 0), []).AssertGood();
        h.Run(Cdb.CompareAndWrite(0, 200), new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public async Task Compare_and_write_is_atomic_against_concurrent_writers_and_other_compare_and_writes()
    {
        using var h = new ScsiHarness();
        h.WriteBlocks(0, new byte[512]);
        const int Threads = 4, Rounds = 300;
        int successes = 0;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var tasks = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            var nexus = new ScsiNexus("iqn.test:caw", (ulong)t + 100, "iqn.t", 1);
            h.ClearAttentions(nexus);
            for (int i = 0; i < Rounds && DateTime.UtcNow < deadline;)
            {
                var cur = h.ReadBlocks(0, 1, nexus);
                var next = (byte[])cur.Clone();
                BinaryPrimitives.WriteInt64LittleEndian(next, BinaryPrimitives.ReadInt64LittleEndian(cur) + 1);
                next.AsSpan(8).Fill((byte)t);
                var r = h.Run(Cdb.CompareAndWrite(0, 1), [.. cur, .. next], nexus: nexus);
                if (r.Good) { Interlocked.Increment(ref successes); i++; }
                else Assert.Equal(SenseKey.Miscompare, r.Key);
                // A plain writer on a neighbouring block keeps the lock-free path busy at the same time.
                h.Run(Cdb.Write16(1, 1), next, nexus: nexus).AssertGood();
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        var final = h.ReadBlocks(0, 1);
        Assert.Equal(successes, BinaryPrimitives.ReadInt64LittleEndian(final));
        Assert.True(final.AsSpan(8).IndexOfAnyExcept(final[8]) < 0, "a torn block");
    }

    [Fact]
    public void Orwrite_ors_the_data_into_the_medium()
    {
        using var h = new ScsiHarness();
        var a = new byte[512]; a.AsSpan().Fill(0x0F);
        var b = new byte[512]; b.AsSpan().Fill(0xF0);
        h.WriteBlocks(0, a);
        h.Run(Cdb.Rw16(0x8B, 0, 1), b).AssertGood();
        Assert.All(h.ReadBlocks(0, 1), x => Assert.Equal(0xFF, x));
    }

    [Fact]
    public void Write_atomic_writes_aligned_multiples_and_refuses_misaligned_ones()
    {
        using var h = new ScsiHarness(options: new ScsiBlockDeviceOptions { PhysicalBlockExponent = null });
        var cdb = new byte[16];
        cdb[0] = 0x9C;
        BinaryPrimitives.WriteInt64BigEndian(cdb.AsSpan(2), 8);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(12), 8);
        var data = ScsiHarness.Pattern(8, 4);
        h.Run(cdb, data).AssertGood();
        Assert.Equal(data, h.ReadBlocks(8, 8));
        BinaryPrimitives.WriteInt64BigEndian(cdb.AsSpan(2), 1);
        h.Run(cdb, data).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }
}
