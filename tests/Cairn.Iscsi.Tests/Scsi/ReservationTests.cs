using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class ReservationTests
{
    private static readonly ScsiNexus A = ScsiHarness.A, B = ScsiHarness.B;

    private static void PrOut(ScsiHarness h, ScsiNexus n, byte sa, ulong key, ulong saKey, byte type = 0, bool expectGood = true)
    {
        var (c, d) = Cdb.PrOut(sa, key, saKey, type);
        var r = h.Run(c, d, nexus: n);
        if (expectGood) r.AssertGood();
    }

    private static Reply Read(ScsiHarness h, ScsiNexus n) => h.Run(Cdb.Read10(1, 1), nexus: n);
    private static Reply Write(ScsiHarness h, ScsiNexus n) => h.Run(Cdb.Write10(1, 1), new byte[512], nexus: n);

    [Fact]
    public void Reserve6_blocks_other_nexuses_until_released_and_their_release_is_a_no_op()
    {
        using var h = new ScsiHarness();
        h.Run(Cdb.Reserve6()).AssertGood();
        h.Run(Cdb.Reserve6()).AssertGood();
        Assert.Equal(ScsiStatus.ReservationConflict, h.Run(Cdb.Reserve6(), nexus: B).Status);
        h.Run(Cdb.Release6(), nexus: B).AssertGood();
        Assert.Equal(ScsiStatus.ReservationConflict, h.Run(Cdb.ModeSense6(0x3F), nexus: B).Status);
        h.Run(Cdb.Inquiry(), nexus: B).AssertGood();
        h.Run(Cdb.ModeSense6(0x3F)).AssertGood();
        h.Run(Cdb.Release6()).AssertGood();
        h.Run(Cdb.Reserve6(), nexus: B).AssertGood();
        h.Run(Cdb.Release6(), nexus: B).AssertGood();
    }

    [Fact]
    public void Nexus_loss_and_lun_reset_release_an_spc2_reservation()
    {
        using var h = new ScsiHarness();
        h.Run(Cdb.Reserve6()).AssertGood();
        h.Unit.NexusLost(A);
        Read(h, B).AssertGood();
        h.Run(Cdb.Reserve6(), nexus: B).AssertGood();
        h.Unit.Reset(B, targetReset: false);
        h.ClearAttentions(A);
        Read(h, A).AssertGood();
    }

    [Theory]
    [InlineData(1, true, false, true, false)]  // write exclusive
    [InlineData(3, false, false, false, false)] // exclusive access
    [InlineData(5, true, true, true, false)]   // write exclusive, registrants only
    [InlineData(6, true, true, false, false)]  // exclusive access, registrants only
    [InlineData(7, true, true, true, false)]   // write exclusive, all registrants
    [InlineData(8, true, true, false, false)]  // exclusive access, all registrants
    public void Persistent_reservation_types_grant_access_per_spc4(byte type, bool regRead, bool regWrite, bool unregRead, bool unregWrite)
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 6, 0, 0xA1);
        PrOut(h, B, 6, 0, 0xB2);
        PrOut(h, A, 1, 0xA1, 0, type);
        Read(h, A).AssertGood();
        Write(h, A).AssertGood();
        Assert.Equal(regRead, Read(h, B).Good);
        Assert.Equal(regWrite, Write(h, B).Good);
        PrOut(h, B, 0, 0xB2, 0);
        var r = Read(h, B);
        Assert.Equal(unregRead ? ScsiStatus.Good : ScsiStatus.ReservationConflict, r.Status);
        Assert.Equal(unregWrite ? ScsiStatus.Good : ScsiStatus.ReservationConflict, Write(h, B).Status);
        PrOut(h, A, 2, 0xA1, 0, type);
        Write(h, B).AssertGood();
    }

    [Fact]
    public void Read_keys_and_read_reservation_report_registrations_and_the_holder()
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 0, 0, 0x1111);
        PrOut(h, B, 0, 0, 0x2222);
        PrOut(h, A, 1, 0x1111, 0, 3);
        var keys = h.Run(Cdb.PrIn(0)).Data;
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(keys.AsSpan(4)));
        Assert.Equal(0x1111ul, BinaryPrimitives.ReadUInt64BigEndian(keys.AsSpan(8)));
        Assert.Equal(0x2222ul, BinaryPrimitives.ReadUInt64BigEndian(keys.AsSpan(16)));
        var res = h.Run(Cdb.PrIn(1)).Data;
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(res.AsSpan(4)));
        Assert.Equal(0x1111ul, BinaryPrimitives.ReadUInt64BigEndian(res.AsSpan(8)));
        Assert.Equal(3, res[21] & 0x0F);
        var full = h.Run(Cdb.PrIn(3)).Data;
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(full.AsSpan(4)) > 48);
        h.Run(Cdb.PrIn(4)).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        var caps = h.Run(Cdb.PrIn(2)).Data;
        Assert.Equal(8, caps[1]);
    }

    [Fact]
    public void Register_with_a_wrong_key_is_a_reservation_conflict()
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 0, 0, 0x10);
        var (c, d) = Cdb.PrOut(0, 0x99, 0x20);
        Assert.Equal(ScsiStatus.ReservationConflict, h.Run(c, d).Status);
        (c, d) = Cdb.PrOut(1, 0x77, 0, 1);
        Assert.Equal(ScsiStatus.ReservationConflict, h.Run(c, d, nexus: B).Status);
    }

    [Fact]
    public void Preempt_removes_the_other_registration_and_takes_the_reservation_with_a_unit_attention()
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 6, 0, 0xA);
        PrOut(h, B, 6, 0, 0xB);
        PrOut(h, B, 1, 0xB, 0, 1);
        PrOut(h, A, 4, 0xA, 0xB, 3);
        var res = h.Run(Cdb.PrIn(1)).Data;
        Assert.Equal(0xAul, BinaryPrimitives.ReadUInt64BigEndian(res.AsSpan(8)));
        Assert.Equal(3, res[21]);
        h.Run(Cdb.TestUnitReady(), nexus: B).AssertCheck(SenseKey.UnitAttention, Asc.RegistrationsPreempted);
        Assert.Equal(ScsiStatus.ReservationConflict, Read(h, B).Status);
        var keys = h.Run(Cdb.PrIn(0)).Data;
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(keys.AsSpan(4)));
    }

    [Fact]
    public void Clear_drops_every_registration_and_the_reservation()
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 6, 0, 0xA);
        PrOut(h, B, 6, 0, 0xB);
        PrOut(h, A, 1, 0xA, 0, 3);
        PrOut(h, A, 3, 0xA, 0);
        h.Run(Cdb.TestUnitReady(), nexus: B).AssertCheck(SenseKey.UnitAttention, Asc.ReservationsPreempted);
        Read(h, B).AssertGood();
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(h.Run(Cdb.PrIn(0)).Data.AsSpan(4)));
    }

    [Fact]
    public void All_registrants_reservation_outlives_the_registrant_that_made_it()
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 6, 0, 0xA);
        PrOut(h, B, 6, 0, 0xB);
        PrOut(h, A, 1, 0xA, 0, 8);
        PrOut(h, A, 0, 0xA, 0);
        var res = h.Run(Cdb.PrIn(1)).Data;
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(res.AsSpan(4)));
        Assert.Equal(0ul, BinaryPrimitives.ReadUInt64BigEndian(res.AsSpan(8)));
        PrOut(h, B, 2, 0xB, 0, 8);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(h.Run(Cdb.PrIn(1)).Data.AsSpan(4)));
    }

    [Fact]
    public void Aptpl_and_a_wrong_parameter_list_length_are_refused()
    {
        using var h = new ScsiHarness();
        var (c, d) = Cdb.PrOut(0, 0, 0x5, flags: 0x01);
        h.Run(c, d).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInParameterList);
        (c, d) = Cdb.PrOut(0, 0, 0x5);
        c[8] = 20;
        h.Run(c, d.AsSpan(0, 20).ToArray()).AssertCheck(SenseKey.IllegalRequest, Asc.ParameterListLengthError);
    }

    [Fact]
    public void Reserve6_conflicts_while_persistent_registrations_exist()
    {
        using var h = new ScsiHarness();
        PrOut(h, A, 6, 0, 0xA);
        Assert.Equal(ScsiStatus.ReservationConflict, h.Run(Cdb.Reserve6()).Status);
    }
}
