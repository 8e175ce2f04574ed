// Shows the case's BPMN diagram with bpmn-js, marking completed elements and current tasks.
(function () {
  var holder = document.getElementById("diagram");
  var source = document.getElementById("diagram-data");
  if (!holder || !source || typeof window.BpmnJS === "undefined") return;
  var data = JSON.parse(source.textContent);
  var viewer = new window.BpmnJS({ container: holder });
  viewer.importXML(data.xml).then(function (result) {
    // bpmn-js lists what it could not draw (unknown references, missing diagram elements).
    holder.setAttribute("data-warnings", String(result.warnings.length));
    result.warnings.forEach(function (w) { console.warn("diagram:", w.message); });
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    data.completed.forEach(function (id) {
      if (registry.get(id)) canvas.addMarker(id, "highlight-done");
    });
    // A sequence flow is on the path when both of its ends were reached.
    var reached = new Set(data.completed.concat(data.current));
    registry.filter(function (el) { return el.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
      var bo = flow.businessObject;
      if (bo.sourceRef && bo.targetRef && reached.has(bo.sourceRef.id) && reached.has(bo.targetRef.id)) {
        canvas.addMarker(flow.id, "highlight-flow");
      }
    });
    data.current.forEach(function (id) {
      if (registry.get(id)) canvas.addMarker(id, "highlight-current");
    });
    canvas.zoom("fit-viewport", "auto");
    holder.setAttribute("data-ready", "true");
  }).catch(function (err) {
    holder.textContent = "The diagram could not be shown: " + err.message;
    holder.setAttribute("data-ready", "error");
  });
})();
