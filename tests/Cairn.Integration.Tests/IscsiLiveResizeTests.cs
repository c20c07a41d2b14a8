using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>A volume grown through the API while real initiators (libiscsi, two I_T nexuses) have sessions on it.</summary>
public sealed class IscsiLiveResizeTests
{
    private const string InitA = "iqn.2026-01.org.example:grower-a";
    private const string InitB = "iqn.2026-01.org.example:grower-b";
    private const string Iqn = "iqn.2026-01.org.example:grow";

    [Fact]
    public async Task Growing_an_exported_volume_raises_capacity_data_has_changed_once_per_nexus_then_read_capacity_shows_the_new_size()
    {
        await using var s = await CairnProcess.StartAsync();
        (await s.CliAsync("volume", "create", "t/grow", "--size", "64M", "--parents")).Ok();
        (await s.CliAsync("target", "create", Iqn, "--volume", "t/grow", "--initiator", InitA)).Ok();
        (await s.CliAsync("target", "allow", Iqn, InitB)).Ok();
        var a = await Io(s, () => LibiscsiSession.Open($"127.0.0.1:{s.IscsiPort}", InitA, Iqn, 0));
        var b = await Io(s, () => LibiscsiSession.Open($"127.0.0.1:{s.IscsiPort}", InitB, Iqn, 0));
        try
        {
            foreach (var session in new[] { a, b })
            {
                // libiscsi's login runs TEST UNIT READY until no unit attention is left; bounded in case one is.
                for (int i = 0; i < 8 && (await Io(s, session.TestUnitReady)).Status != 0; i++) { }
                Assert.Equal((0, 0, 0, 0), await Io(s, session.TestUnitReady));
                Assert.Equal(((64L << 20) / 512, 512), await Io(s, session.ReadCapacity16));
            }

            (await s.CliAsync("volume", "resize", "t/grow", "--size", "128M")).Ok();

            foreach (var session in new[] { a, b })
            {
                // SPC-4 §5.14 / SBC-3 §4.10: reported once to each I_T nexus, then the command runs.
                Assert.Equal((2, 6, 0x2A, 0x09), await Io(s, session.TestUnitReady));
                Assert.Equal((0, 0, 0, 0), await Io(s, session.TestUnitReady));
                Assert.Equal(((128L << 20) / 512, 512), await Io(s, session.ReadCapacity16));
            }
        }
        finally
        {
            // Logout is a synchronous libiscsi call too: bounded like the others.
            await Io(s, () => { a.Dispose(); return 0; });
            await Io(s, () => { b.Dispose(); return 0; });
        }
        await s.StopAsync();
    }

    /// <summary>
    /// Runs a synchronous libiscsi call off the test thread. libiscsi's own timeout
    /// (<see cref="LibiscsiSession.CallTimeoutSeconds"/>) fails a call first; this bound is the backstop, and fails with
    /// the server's output.
    /// </summary>
    private static async Task<T> Io<T>(CairnProcess s, Func<T> call)
    {
        try
        {
            return await Task.Run(call, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(LibiscsiSession.CallTimeoutSeconds * 2), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"libiscsi call did not return; server exited: {s.HasExited}\n{s.Log}");
            throw;
        }
    }
}
