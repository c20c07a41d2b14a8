using System.Text.Json.Nodes;
using Cairn.Api.Lun;
using Cairn.Core.Jobs;
using Cairn.Core.State;
using Cairn.Store;

namespace Cairn.Api.Tests.Lun;

/// <summary>The clone_status cache: a running job is rendered from its live context, a finished one once, at the end.</summary>
public sealed class LunStatusTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Stands in for the create handler: records progress the way it does (counters as numbers the handler
    /// sets, not as read back from the store), then waits until the test lets it finish.</summary>
    private sealed class SteppedHandler(LunStatus status) : IJobHandler
    {
        public readonly TaskCompletionSource Recorded = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Type => "lun.create";

        public async Task RunAsync(JobContext ctx, CancellationToken ct)
        {
            var items = ctx.Items;
            await ctx.UpdateItemsAsync([items[0] with { State = ItemState.Done, Data = new JsonObject { ["wwn"] = "iqn.2014-11.org.example:a" } }], d =>
            {
                d["num_clones"] = 1;
                d["num_targets"] = 1;
                d["num_completed"] = 1;
                d["percent_completed"] = 0.5;
                d["clone_time"] = 0.25;
            }, progress: 0.5);
            await ctx.SetPhaseAsync("start_creating_targets");
            status.Changed(ctx);
            Recorded.SetResult();
            await Release.Task.WaitAsync(ct);
            await ctx.UpdateItemsAsync([items[1] with { State = ItemState.Failed, Error = "target: boom", Data = new JsonObject() }], d => d["num_completed"] = 2);
            status.Changed(ctx);
        }
    }

    [Fact]
    public async Task Running_job_is_rendered_from_its_live_context_and_finished_job_once_at_the_end()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cairn-lunstatus-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var store = new SqliteStateStore(Path.Combine(dir, "state.db"));
            var status = new LunStatus(store);
            var handler = new SteppedHandler(status);
            await using var jobs = new JobEngine(store, [handler]);
            jobs.JobFinished += status.Finished;
            await jobs.StartAsync(Ct);
            var request = JsonNode.Parse("""{"clones":[{"dst":"p/a","wwn":"iqn.2014-11.org.example:a"},{"dst":"p/b","wwn":"iqn.2014-11.org.example:b"}]}""")!;
            var job = await jobs.SubmitAsync("lun.create", request, ["p/a", "p/b"], "pending", ["p/a", "p/b"], Ct);
            var id = job.Id.ToString();
            Assert.NotNull(status.Render(id)); // cached while pending (possibly before the job starts)
            await handler.Recorded.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);

            // Reads may be one render behind: read until the background re-render has landed.
            JsonNode s;
            var guard = 0;
            do
            {
                s = JsonNode.Parse(status.Render(id)!)!;
                if ((string?)s["status"] == "start_creating_targets") break;
                await Task.Delay(5, Ct);
            }
            while (++guard < 6000);
            Assert.Equal("start_creating_targets", (string?)s["status"]);
            Assert.Equal(2, (int)s["num_requested"]!);
            Assert.Equal(1, (int)s["num_clones"]!);
            Assert.Equal(1, (int)s["num_completed"]!);
            Assert.Equal(0.5, (double)s["percent_completed"]!);
            Assert.Equal(0.25, (double)s["clone_time"]!);
            Assert.Equal(0, (int)s["num_failed"]!);

            handler.Release.SetResult();
            await jobs.WaitAsync(job.Id, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            guard = 0;
            do
            {
                s = JsonNode.Parse(status.Render(id)!)!;
                if ((string?)s["status"] == "failed") break;
                await Task.Delay(5, Ct);
            }
            while (++guard < 6000);
            Assert.Equal("failed", (string?)s["status"]);
            Assert.Equal(2, (int)s["num_completed"]!);
            Assert.Equal(1, (int)s["num_failed"]!);
            var failed = Assert.Single(s["failed_items"]!.AsArray())!;
            Assert.Equal("p/b", (string?)failed["dst"]);
            Assert.Equal("iqn.2014-11.org.example:b", (string?)failed["wwn"]); // from the request: the item data has none
            Assert.Equal("target: boom", (string?)failed["error"]);

            // A fresh cache (another process) renders the same finished job from the store.
            var cold = JsonNode.Parse(new LunStatus(store).Render(id)!)!;
            Assert.Equal(s.ToJsonString(), cold.ToJsonString());
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
