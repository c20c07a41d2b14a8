using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cairn.Api.Tests.Errors;

/// <summary>Routine events are one log line without a stack trace; stack traces are for real faults only.</summary>
public sealed class RoutineLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_client_that_aborts_an_export_is_logged_without_a_stack_trace()
    {
        await using var h = await ApiHost.StartAsync();
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/volumes", """{"name":"tank/big","size":"16G"}""")).Code);
        using (var resp = await h.Http.GetAsync("/cairn/v1/volume-data/tank/big", HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            await using var s = await resp.Content.ReadAsStreamAsync(Ct);
            var buf = new byte[1 << 20];
            await s.ReadAtLeastAsync(buf, buf.Length, cancellationToken: Ct);
        } // the client goes away with most of 16 GiB unsent

        // The export's end is recorded (metrics count it) once the server has given up on the client.
        var metrics = h.Services.GetRequiredService<CairnMetrics>();
        for (int i = 0; i < 600 && !metrics.Render().Contains("api=\"admin\",method=\"GET\"", StringComparison.Ordinal); i++) await Task.Delay(50, Ct);
        Assert.Contains("api=\"admin\",method=\"GET\"", metrics.Render(), StringComparison.Ordinal);
        Assert.NotNull(await h.Logs.WaitForAsync(e => e.Id.Id == 2003 && e.Category.EndsWith("ApiErrorMiddleware", StringComparison.Ordinal)));
        Assert.DoesNotContain(h.Logs.Entries, e => e.Exception is not null || e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task A_client_that_resets_the_connection_right_after_asking_is_logged_without_a_stack_trace()
    {
        await using var h = await ApiHost.StartAsync();
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/volumes", """{"name":"tank/big","size":"16G"}""")).Code);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(h.Http.BaseAddress!.Host, h.Http.BaseAddress.Port, Ct);
            await tcp.GetStream().WriteAsync("GET /cairn/v1/volume-data/tank/big HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray(), Ct);
            tcp.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0); // close with RST: a client killed mid-request
        }
        var metrics = h.Services.GetRequiredService<CairnMetrics>();
        for (int i = 0; i < 600 && !metrics.Render().Contains("api=\"admin\",method=\"GET\"", StringComparison.Ordinal); i++) await Task.Delay(50, Ct);
        Assert.Contains("api=\"admin\",method=\"GET\"", metrics.Render(), StringComparison.Ordinal);
        Assert.DoesNotContain(h.Logs.Entries, e => e.Exception is not null || e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Batch_items_that_already_exist_fail_the_job_without_a_stack_trace()
    {
        await using var h = await ApiHost.StartAsync();
        Assert.Equal(HttpStatusCode.Created, (await h.SendAsync("POST", "/cairn/v1/volumes", """{"name":"tank/x","size":"1M"}""")).Code);
        var (c, _, body, text) = await h.SendAsync("POST", "/cairn/v1/batch", """{"ops":[{"op":"create","name":"tank/x","size":"2M"},{"op":"create","name":"tank/y","size":"1M"}]}""");
        Assert.True(c == HttpStatusCode.Accepted, text);
        var id = Guid.Parse((string)body!["id"]!);
        var job = await h.Jobs.WaitAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(Cairn.Core.State.JobState.Failed, job.State);
        Assert.Contains("tank/x", job.Error, StringComparison.Ordinal);
        var end = await h.Logs.WaitForAsync(e => e.Id.Id == 2002 && e.Message.Contains(id.ToString(), StringComparison.Ordinal));
        Assert.NotNull(end);
        Assert.Contains("tank/x", end.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(h.Logs.Entries, e => e.Exception is not null);
    }
}
