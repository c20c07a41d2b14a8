using System.Net;
using System.Net.Sockets;
using Cairn.Hosting;
using Cairn.TestSupport;
using Microsoft.Extensions.Logging;

namespace Cairn.Api.Tests.Hosting;

/// <summary>
/// The HTTP and iSCSI ports are checked by binding them before anything is written, and that very socket is what the
/// server then listens on: between the check and the start no other program can take the port (which made Kestrel's
/// bind fail, with a stack trace, after the data directory was initialised).
/// </summary>
public sealed class ListenerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ports_checked_at_start_stay_taken_until_the_server_listens_on_them()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cairn-listen-" + Guid.NewGuid().ToString("N"));
        int http = CairnServer.FreePort(), iscsi = CairnServer.FreePort();
        var options = new CairnOptions { Data = dir, Http = $"127.0.0.1:{http}", Iscsi = $"127.0.0.1:{iscsi}", Socket = "none", Pools = "tank", EngineSync = false };
        var app = ServerHost.Build(options, b => b.Logging.ClearProviders());
        try
        {
            // Built, not started: another program trying to take either port now is refused.
            foreach (var port in new[] { http, iscsi })
            {
                using var other = new TcpListener(IPAddress.Loopback, port);
                var e = Assert.Throws<SocketException>(other.Start);
                Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
            }

            await app.StartAsync(Ct);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}"), Timeout = TimeSpan.FromMinutes(1) };
            Assert.Equal("ok", (await client.GetStringAsync("/healthz", Ct)).Trim());
            // The iSCSI listener takes connections on its port.
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, iscsi, Ct);
            Assert.True(tcp.Connected);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }

        // Stopped: nothing listens there any more (Kestrel closed the sockets it adopted). A connection attempt, not a
        // bind: connections the server closed may linger in TIME_WAIT on the port for a while.
        foreach (var port in new[] { http, iscsi })
        {
            using var late = new TcpClient();
            var e = await Assert.ThrowsAsync<SocketException>(async () => await late.ConnectAsync(IPAddress.Loopback, port, Ct));
            Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
        }
    }
}
