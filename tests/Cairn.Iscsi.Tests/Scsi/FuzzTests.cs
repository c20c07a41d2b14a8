using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class FuzzTests
{
    private static readonly byte[][] Seeds =
    [
        Cdb.Read10(0, 1), Cdb.Write16(0, 1), Cdb.Inquiry(true, 0x83), Cdb.ModeSense6(0x3F), Cdb.ModeSense10(0x3F),
        Cdb.ReadCapacity16(), Cdb.GetLbaStatus(0), Cdb.Unmap((0, 8)).Cdb, Cdb.WriteSame16(0, 8, true), Cdb.CompareAndWrite(0, 1),
        Cdb.ReportSupportedOpcodes(), Cdb.ReportLuns(), Cdb.PrIn(3), Cdb.PrOut(6, 0, 1).Cdb, Cdb.Verify16(0, 1, 1),
        Cdb.ModeSelect6(24), Cdb.RequestSense(), [0x48, 0x02, 0, 0, 0, 0, 0, 0, 0, 0], Cdb.Reserve6(), [0x1B, 0, 0, 0, 3, 0],
    ];

    private const int Commands = 20_000;

    [Fact]
    public void Random_and_mutated_cdbs_only_ever_get_a_status_never_an_exception()
    {
        using var h = new ScsiHarness(blocks: 2048, options: new ScsiBlockDeviceOptions { Removable = true, MaxTransferBlocks = 64, MaxWriteSameBlocks = 256 });
        var rng = new Random(20261123);
        var nexuses = new[] { ScsiHarness.A, ScsiHarness.B, new ScsiNexus("iqn.fuzz", 7, "iqn.t", 2) };
        // A fixed, seeded number of commands: the same run every time, however loaded the machine is.
        for (int run = 0; run < Commands; run++)
        {
            byte[] cdb;
            if (rng.Next(4) == 0)
            {
                cdb = new byte[rng.Next(6, 17)];
                rng.NextBytes(cdb);
            }
            else
            {
                var seed = Seeds[rng.Next(Seeds.Length)];
                cdb = new byte[16];
                seed.CopyTo(cdb, 0);
                for (int m = rng.Next(1, 4); m > 0; m--)
                {
                    int at = rng.Next(1, seed.Length);
                    cdb[at] = rng.Next(3) switch { 0 => (byte)rng.Next(256), 1 => (byte)(cdb[at] ^ (1 << rng.Next(8))), _ => 0xFF };
                }
                cdb = cdb.AsSpan(0, Math.Max(seed.Length, 6)).ToArray();
            }
            long outLen = Math.Min(h.Unit.DataOutLength(cdb), 64 * 1024);
            Assert.InRange(h.Unit.DataOutLength(cdb), 0, long.MaxValue);
            var dataOut = new byte[rng.Next(3) == 0 ? rng.Next((int)outLen + 1) : (int)outLen];
            rng.NextBytes(dataOut);
            if (rng.Next(2) == 0) dataOut.AsSpan().Clear();
            var dataIn = new byte[rng.Next(2) == 0 ? 0 : rng.Next(1, 70000)];
            var info = new ScsiCommandInfo((uint)Math.Max(dataIn.Length, dataOut.Length), dataIn.Length > 0, dataOut.Length > 0, nexuses[rng.Next(nexuses.Length)]);
            var r = h.Unit.Execute(cdb, dataOut, dataIn, info);
            Assert.Contains(r.Status, new[] { ScsiStatus.Good, ScsiStatus.CheckCondition, ScsiStatus.ReservationConflict });
            Assert.InRange(r.DataInLength, 0, dataIn.Length);
            Assert.True(r.TransferLength >= 0);
            if (r.Status == ScsiStatus.CheckCondition) Assert.True(r.Sense.Length >= 8);
            if (rng.Next(200) == 0) h.Unit.Reset(nexuses[rng.Next(nexuses.Length)], rng.Next(2) == 0);
        }
    }
}
