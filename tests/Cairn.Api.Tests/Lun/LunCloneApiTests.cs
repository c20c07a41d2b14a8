using System.Net;
using System.Text.Json.Nodes;
using Cairn.Core.Services;
using Cairn.Core.State;

namespace Cairn.Api.Tests.Lun;

public sealed class LunCloneApiTests
{
    private static readonly HttpMethod Delete = HttpMethod.Delete;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_job_clones_exports_and_reports_the_original_status_fields()
    {
        await using var h = await LunHost.StartAsync();
        var s = await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1, 2, 3]));

        Assert.Equal("complete", (string)s["status"]!);
        Assert.Equal("create", (string)s["job_type"]!);
        foreach (var f in new[] { "num_requested", "num_clones", "num_targets", "num_completed" }) Assert.Equal(3, (int)s[f]!);
        Assert.Equal(1.0, (double)s["percent_completed"]!);
        foreach (var f in new[] { "lag_time", "clone_time", "target_time", "job_time" }) Assert.True((double)s[f]! >= 0, f);
        Assert.Equal(0.0, (double)s["udevd_time"]!);
        Assert.Null(s["error"]);
        Assert.All(s["items"]!.AsArray(), i => Assert.Equal("done", (string)i!["status"]!));

        var t = h.Targets.Get(LunHost.Wwn(2))!;
        Assert.Equal([new TargetLun(0, LunHost.Dst(2))], t.Luns);
        Assert.Equal([LunHost.Init(2)], t.Initiators);
        Assert.Equal(LunHost.Src, h.Engine.Get(LunHost.Dst(2))!.Origin);
    }

    [Fact]
    public async Task Wwn_and_initiators_are_lower_cased()
    {
        await using var h = await LunHost.StartAsync();
        var body = """{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"IQN.2014-11.Org.Example:Node.A","initiators":["IQN.2014-11.org.example:Init"],"createParent":"1"}]}""";
        var s = await h.RunAsync(HttpMethod.Post, body);
        Assert.Equal("complete", (string)s["status"]!);
        Assert.Equal(["iqn.2014-11.org.example:init"], h.Targets.Get("iqn.2014-11.org.example:node.a")!.Initiators);
    }

    [Theory]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"not-an-iqn","initiators":["iqn.2014-11.org.example:i"]}]}""", "clones[0].wwn")]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"iqn.2014-11.org.example:a","initiators":["bad name"]}]}""", "clones[0].initiators[0]")]
    [InlineData("""{"clones":[{"src":"tank/images/golden","dst":"tank/n/a","wwn":"iqn.2014-11.org.example:a","initiators":["iqn.2014-11.org.example:i"]}]}""", "clones[0].src")]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n a","wwn":"iqn.2014-11.org.example:a","initiators":["iqn.2014-11.org.example:i"]}]}""", "clones[0].dst")]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"iqn.2014-11.org.example:a","initiators":["iqn.2014-11.org.example:i"],"colour":"red"}]}""", "unknown field 'colour'")]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"iqn.2014-11.org.example:a","initiators":["iqn.2014-11.org.example:i"],"createParent":"maybe"}]}""", "createParent")]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"iqn.2014-11.org.example:a","initiators":[]}]}""", "initiators")]
    [InlineData("""{"clones":[{"src":"tank/images/golden@1","dst":"tank/n/a","wwn":"iqn.2014-11.org.example:a","initiators":["iqn.2014-11.org.example:i"],"port":70000}]}""", "port")]
    [InlineData("""{"clones":[]}""", "empty")]
    [InlineData("""{"clone":[]}""", "unknown field 'clone'")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"clones":""", "not valid JSON")]
    public async Task Bad_create_request_is_400_with_the_reason_and_runs_nothing(string body, string expected)
    {
        await using var h = await LunHost.StartAsync();
        var (code, b) = await h.PostAsync("/clone", body);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("error", (string)b!["status"]!);
        Assert.Contains(expected, (string)b["reason"]!, StringComparison.Ordinal);
        Assert.Null(h.Engine.Get("tank/n/a"));
        Assert.Empty(h.Jobs.List());
    }

    [Fact]
    public async Task Duplicate_dst_or_wwn_in_one_request_is_refused()
    {
        await using var h = await LunHost.StartAsync();
        var dupDst = LunHost.CreateBody([1, 2]).Replace(LunHost.Dst(2), LunHost.Dst(1), StringComparison.Ordinal);
        var (c1, b1) = await h.PostAsync("/clone", dupDst);
        Assert.Equal(HttpStatusCode.BadRequest, c1);
        Assert.Contains($"dst '{LunHost.Dst(1)}' appears 2 times", (string)b1!["reason"]!, StringComparison.Ordinal);
        var dupWwn = LunHost.CreateBody([1, 2]).Replace(LunHost.Wwn(2), LunHost.Wwn(1).ToUpperInvariant(), StringComparison.Ordinal);
        var (c2, b2) = await h.PostAsync("/clone", dupWwn);
        Assert.Equal(HttpStatusCode.BadRequest, c2);
        Assert.Contains("wwn", (string)b2!["reason"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Batch_over_the_limit_is_refused()
    {
        await using var h = await LunHost.StartAsync();
        var (code, b) = await h.PostAsync("/clone", LunHost.CreateBody(Enumerable.Range(0, 10_001)));
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Contains("too many items", (string)b!["reason"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_job_is_404_with_the_original_body()
    {
        await using var h = await LunHost.StartAsync();
        foreach (var id in new[] { Guid.NewGuid().ToString(), "not-a-uuid" })
        {
            var (code, b) = await h.SendAsync(HttpMethod.Get, "/clone_status/" + id);
            Assert.Equal(HttpStatusCode.NotFound, code);
            Assert.Equal("""{"status":"error","reason":"unknown job id"}""", b!.ToJsonString());
        }
    }

    [Fact]
    public async Task Clone_test_answers_get_and_post()
    {
        await using var h = await LunHost.StartAsync();
        foreach (var m in new[] { HttpMethod.Get, HttpMethod.Post })
        {
            var (code, b) = await h.SendAsync(m, "/clone_test");
            Assert.Equal(HttpStatusCode.OK, code);
            Assert.Equal("""{"status":"ok","message":"test"}""", b!.ToJsonString());
        }
    }

    [Fact]
    public async Task Clone_of_missing_snapshot_fails_only_that_item_and_reposting_finishes_the_rest()
    {
        await using var h = await LunHost.StartAsync();
        var body = LunHost.CreateBody([1, 2, 3], extra: i => "").Replace(
            $"\"src\":\"{LunHost.Src}\",\"dst\":\"{LunHost.Dst(2)}\"", $"\"src\":\"tank/images/later@1\",\"dst\":\"{LunHost.Dst(2)}\"", StringComparison.Ordinal);
        var s = await h.RunAsync(HttpMethod.Post, body);
        Assert.Equal("failed", (string)s["status"]!);
        Assert.Contains(LunHost.Dst(2), (string)s["error"]!, StringComparison.Ordinal);
        Assert.StartsWith("1 of 3 items failed", (string)s["error"]!, StringComparison.Ordinal);
        Assert.Equal(2, (int)s["num_targets"]!);
        var items = s["items"]!.AsArray();
        Assert.Equal(["done", "failed", "done"], items.Select(i => (string)i!["status"]!));
        Assert.NotNull(h.Targets.Get(LunHost.Wwn(3)));
        Assert.Null(h.Engine.Get(LunHost.Dst(2)));
        Assert.Null(h.Targets.Get(LunHost.Wwn(2)));
        var (_, summary) = await h.SendAsync(HttpMethod.Get, "/clone_status/" + s["job_id"]);
        Assert.Null(summary!["items"]); // polls stay small: the full list is ?items=1
        Assert.Equal(1, (int)summary["num_failed"]!);
        Assert.Equal(LunHost.Dst(2), (string)summary["failed_items"]![0]!["dst"]!);

        await h.Volumes.CreateVolumeAsync("tank/images/later", 1 << 20, false, ct: Ct);
        await h.Volumes.CreateSnapshotAsync("tank/images/later", "1", ct: Ct);
        var first = h.Targets.Get(LunHost.Wwn(1))!;
        var again = await h.RunAsync(HttpMethod.Post, body);
        Assert.Equal("complete", (string)again["status"]!);
        Assert.Equal("tank/images/later@1", h.Engine.Get(LunHost.Dst(2))!.Origin);
        Assert.Equal(first.Created, h.Targets.Get(LunHost.Wwn(1))!.Created); // re-used, not remade
    }

    [Fact]
    public async Task Existing_dst_is_reused_only_when_it_is_a_clone_of_the_same_src()
    {
        await using var h = await LunHost.StartAsync();
        await h.Volumes.CloneAsync("tank/images/golden", "1", LunHost.Dst(1), parents: true, ct: Ct);
        await h.Volumes.CloneAsync("tank/images/other", "1", LunHost.Dst(2), parents: true, ct: Ct);
        var s = await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1, 2]));
        var items = s["items"]!.AsArray();
        Assert.Equal("done", (string)items[0]!["status"]!);
        Assert.Equal("failed", (string)items[1]!["status"]!);
        Assert.Contains("is not a clone of tank/images/golden@1", (string)items[1]!["error"]!, StringComparison.Ordinal);
        Assert.Null(h.Targets.Get(LunHost.Wwn(2)));
        Assert.Equal("tank/images/other@1", h.Engine.Get(LunHost.Dst(2))!.Origin); // left alone
    }

    [Fact]
    public async Task Wwn_taken_by_another_target_fails_the_item_before_any_clone_is_made()
    {
        await using var h = await LunHost.StartAsync();
        await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1]));
        var body = LunHost.CreateBody([2]).Replace(LunHost.Wwn(2), LunHost.Wwn(1), StringComparison.Ordinal);
        var s = await h.RunAsync(HttpMethod.Post, body);
        Assert.Equal("failed", (string)s["status"]!);
        Assert.Contains("already exists", (string)s["items"]![0]!["error"]!, StringComparison.Ordinal);
        Assert.Null(h.Engine.Get(LunHost.Dst(2)));
    }

    [Theory]
    [InlineData("\"deleteClones\":true", true)]
    [InlineData("\"deleteClone\":1", true)]
    [InlineData("\"deleteClones\":\"1\"", true)]
    [InlineData("\"deleteClone\":0", false)]
    [InlineData("\"deleteClones\":false", false)]
    public async Task Delete_removes_the_target_and_the_clone_when_asked_in_either_spelling(string flag, bool clonesGone)
    {
        await using var h = await LunHost.StartAsync();
        await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1, 2]));
        var s = await h.RunAsync(Delete, LunHost.DeleteBody([1, 2], flag));
        Assert.Equal("complete", (string)s["status"]!);
        Assert.Equal("delete", (string)s["job_type"]!);
        Assert.Equal(2, (int)s["num_targets"]!);
        Assert.Equal(clonesGone ? 2 : 0, (int)s["num_clones"]!);
        Assert.Null(h.Targets.Get(LunHost.Wwn(1)));
        Assert.Equal(clonesGone, h.Engine.Get(LunHost.Dst(1)) is null);
    }

    [Fact]
    public async Task Delete_of_a_missing_target_fails_only_that_item_and_still_deletes_its_clone()
    {
        await using var h = await LunHost.StartAsync();
        await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1, 2]));
        await h.Targets.DeleteAsync(LunHost.Wwn(2), Ct);
        var s = await h.RunAsync(Delete, LunHost.DeleteBody([1, 2, 3]));
        Assert.Equal("failed", (string)s["status"]!);
        var items = s["items"]!.AsArray();
        Assert.Equal("done", (string)items[0]!["status"]!);
        Assert.Contains("does not exist; the clone was deleted", (string)items[1]!["error"]!, StringComparison.Ordinal);
        Assert.Contains($"volume {LunHost.Dst(3)} does not exist", (string)items[2]!["error"]!, StringComparison.Ordinal);
        Assert.Null(h.Engine.Get(LunHost.Dst(1)));
        Assert.Null(h.Engine.Get(LunHost.Dst(2)));
    }

    [Fact]
    public async Task Delete_refuses_a_target_that_exports_another_dataset()
    {
        await using var h = await LunHost.StartAsync();
        await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1, 2]));
        var body = LunHost.DeleteBody([1]).Replace(LunHost.Wwn(1), LunHost.Wwn(2), StringComparison.Ordinal);
        var s = await h.RunAsync(Delete, body);
        Assert.Equal("failed", (string)s["status"]!);
        Assert.NotNull(h.Targets.Get(LunHost.Wwn(2)));
        Assert.NotNull(h.Engine.Get(LunHost.Dst(1)));
    }

    [Fact]
    public async Task Clone_repeat_requeues_a_copy_and_unknown_ids_are_404()
    {
        await using var h = await LunHost.StartAsync();
        var first = await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1]));
        var (code, b) = await h.PostAsync("/clone_repeat", $"{{\"id\":\"{first["job_id"]}\"}}");
        Assert.Equal(HttpStatusCode.Created, code);
        var job = await h.Jobs.WaitAsync(Guid.Parse((string)b!["job_id"]!), Ct);
        Assert.Equal(JobState.Succeeded, job.State);
        var (c404, _) = await h.PostAsync("/clone_repeat", $"{{\"id\":\"{Guid.NewGuid()}\"}}");
        Assert.Equal(HttpStatusCode.NotFound, c404);
    }

    [Fact]
    public async Task Properties_are_accepted_and_reported_as_not_applied()
    {
        await using var h = await LunHost.StartAsync();
        var s = await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([1], extra: _ => ",\"properties\":{\"compression\":\"lz4\"},\"ip\":\"127.0.0.1\",\"port\":3260"));
        Assert.Equal("complete", (string)s["status"]!);
        Assert.Contains("compression", (string)s["items"]![0]!["note"]!, StringComparison.Ordinal);
        Assert.Equal("127.0.0.1:3260", h.Targets.Get(LunHost.Wwn(1))!.Portal);
    }

    [Fact]
    public async Task Jobs_on_the_same_dst_run_one_after_the_other()
    {
        await using var h = await LunHost.StartAsync();
        var (_, a) = await h.PostAsync("/clone", LunHost.CreateBody([1, 2]));
        var (_, d) = await h.SendAsync(Delete, "/clone", LunHost.DeleteBody([2, 5]).Replace(LunHost.Dst(5), LunHost.Dst(9), StringComparison.Ordinal));
        var (_, c) = await h.PostAsync("/clone", LunHost.CreateBody([3]));
        var ja = await h.Jobs.WaitAsync(Guid.Parse((string)a!["job_id"]!), Ct);
        var jd = await h.Jobs.WaitAsync(Guid.Parse((string)d!["job_id"]!), Ct);
        await h.Jobs.WaitAsync(Guid.Parse((string)c!["job_id"]!), Ct);
        Assert.True(jd.Started >= ja.Finished, "the delete waited for the create of the same dst");
        Assert.Null(h.Engine.Get(LunHost.Dst(2)));
        Assert.NotNull(h.Targets.Get(LunHost.Wwn(1)));
    }
}
