using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class HotPathTests
{
    [Fact]
    public void Read10_and_write10_allocate_nothing_once_warm()
    {
        using var h = new ScsiHarness();
        var read = Cdb.Read10(8, 8);
        var write = Cdb.Write10(8, 8);
        var dataOut = ScsiHarness.Pattern(8, 1);
        var dataIn = new byte[4096];
        var info = new ScsiCommandInfo(4096, true, false, ScsiHarness.A);
        var winfo = new ScsiCommandInfo(4096, false, true, ScsiHarness.A);
        for (int i = 0; i < 100; i++)
        {
            h.Unit.Execute(write, dataOut, default, winfo);
            h.Unit.Execute(read, default, dataIn, info);
        }

        // The memory device allocates nothing for rewrites of allocated chunks, so what remains is the unit's own cost.
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            var w = h.Unit.Execute(write, dataOut, default, winfo);
            var r = h.Unit.Execute(read, default, dataIn, info);
            if (w.Status != ScsiStatus.Good || r.Status != ScsiStatus.Good) Assert.Fail("command failed");
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(dataOut, dataIn);
    }
}
