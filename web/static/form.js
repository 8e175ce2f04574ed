// Small help for array fields: "Add another" appends an empty row. Forms work without this script.
document.querySelectorAll("fieldset.array").forEach(function (set) {
  var button = set.querySelector(".add-row");
  var rows = set.querySelector("ol.rows");
  if (!button || !rows) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var last = rows.querySelector("li:last-child");
    var copy = last.cloneNode(true);
    var input = copy.querySelector("input");
    input.value = "";
    input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(rows.children.length + 1)));
    rows.appendChild(copy);
    input.focus();
  });
});

// A refused form: move the focus to the summary of its problems, so screen readers and keyboards start there.
var problems = document.getElementById("form-errors");
if (problems) problems.focus();
